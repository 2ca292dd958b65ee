/*
 * Which security levels refuse a certificate (shim/manager/refusal.c): the levels OpenSSL's own
 * SSL_use_cert_and_key refuses, found once per record so that a handshake at such a level keeps the host's
 * certificate. Level L asks for keys and signatures of 80, 112, 128, 192, 256 bits (L = 1..5).
 */
#include "shim/manager/quiesce.c" /* mgr_host */
#include "shim/manager/refusal.c" /* the manager's own files: not in the core archive */
#include "shim/manager/sync.c"    /* mgr_cert_parsed */
#include "shim/manager/seen.c" /* what sync notes for `autotls status` */
#include "shim/preload/cache.c"
#include "shim/shm.c"
#include "shim/shm_dir.c"
#include "tests/harness/certgen.h"
#include "tests/test.h"


static struct shim_host host;

/* The refused levels of leaf (signed by ca) with key, and OpenSSL's reason. */
static unsigned levels_of(X509 *leaf, EVP_PKEY *key, X509 *ca, const char **why)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	unsigned levels = 0xff;
	*why = NULL;
	if (chain && ca)
		sk_X509_push(chain, ca);
	if (mgr_refused_levels(leaf, key, chain, &levels, why) != 0)
		levels = 0xff;
	/* A handshake's own probe (a record parsed on first use) finds the same levels. */
	unsigned fresh = 0xff;
	const char *fresh_why = NULL;
	CHECK_OK(mgr_refused_levels_fresh(leaf, key, chain, &fresh, &fresh_why));
	CHECK_INT(fresh, ==, levels);
	CHECK((fresh_why == NULL) == (*why == NULL));
	sk_X509_free(chain);
	return levels;
}

static void p256_under_rsa2048_refused_from_level_3(void)
{
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	const char *why;
	ca_key = EVP_RSA_gen(2048);
	REQUIRE(ca_key != NULL);
	ca = harness_cert_sign(ca_key, "RSA 2048 CA", NULL, -3600, 30 * 86400L, 1, NULL, NULL);
	REQUIRE(ca != NULL);
	CHECK_OK(harness_cert_make(&leaf, &key, "a.example.test", "a.example.test", NULL, 0, ca, ca_key, 30));
	/* 112 bits: levels 3, 4 and 5 refuse it. */
	CHECK_INT(levels_of(leaf, key, ca, &why), ==, 0x38u);
	CHECK(why != NULL);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
}

static void p256_under_p256_refused_from_level_4(void)
{
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	const char *why;
	CHECK_OK(harness_cert_make(&ca, &ca_key, "P-256 CA", NULL, NULL, 1, NULL, NULL, 30));
	CHECK_OK(harness_cert_make(&leaf, &key, "a.example.test", "a.example.test", NULL, 0, ca, ca_key, 30));
	CHECK_INT(levels_of(leaf, key, ca, &why), ==, 0x30u);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
}

static void a_key_that_does_not_match_is_refused_everywhere(void)
{
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *key = NULL;
	const char *why;
	CHECK_OK(harness_cert_make(&ca, &ca_key, "P-256 CA", NULL, NULL, 1, NULL, NULL, 30));
	CHECK_OK(harness_cert_make(&leaf, &key, "a.example.test", "a.example.test", NULL, 0, ca, ca_key, 30));
	CHECK_INT(levels_of(leaf, ca_key, ca, &why), ==, 0x3fu);
	CHECK(why != NULL);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
}

int main(void)
{
	mgr_host = &host;
	RUN(p256_under_rsa2048_refused_from_level_3);
	RUN(p256_under_p256_refused_from_level_4);
	RUN(a_key_that_does_not_match_is_refused_everywhere);
	SSL_free(probe);
	SSL_CTX_free(probe_ctx);
	return TEST_EXIT();
}
