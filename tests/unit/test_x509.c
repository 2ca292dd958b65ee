/* util/x509.c: chain parsing bounds, certificate info, key match, name coverage, expiry and verification. */
#include "util/err.h"
#include "util/x509.h"
#include "tests/harness/certgen.h"
#include "tests/test.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <unistd.h>

static char *cat2(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s%s", a, b);
	return p;
}

static void test_parse(void)
{
	char *key = NULL, *cert = NULL, *two = NULL, *bad = NULL;
	size_t kl = 0, cl = 0;
	STACK_OF(X509) *sk = NULL;

	REQUIRE(harness_self_signed_pem(&key, &kl, &cert, &cl, "DNS:example.com") == 0);
	CHECK_OK(at_chain_parse(&sk, cert, cl));
	CHECK(sk && sk_X509_num(sk) == 1);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	two = cat2(cert, cert);
	CHECK_OK(at_chain_parse(&sk, two, strlen(two)));
	CHECK(sk && sk_X509_num(sk) == 2);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	/* whitespace around is fine; text between or after, a key in the chain, a cut block: not */
	bad = cat2("\n\r\n  ", cert);
	CHECK_OK(at_chain_parse(&sk, bad, strlen(bad)));
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	free(bad);
	bad = cat2(cert, "garbage\n");
	CHECK_INT(at_chain_parse(&sk, bad, strlen(bad)), ==, AT_E_PARSE);
	free(bad);
	bad = cat2("junk\n", cert);
	CHECK_INT(at_chain_parse(&sk, bad, strlen(bad)), ==, AT_E_PARSE);
	free(bad);
	bad = cat2(cert, key);
	CHECK_INT(at_chain_parse(&sk, bad, strlen(bad)), ==, AT_E_PARSE);
	free(bad);
	CHECK_INT(at_chain_parse(&sk, cert, cl / 2), ==, AT_E_PARSE);
	CHECK_INT(at_chain_parse(&sk, "", 0), ==, AT_E_PARSE);
	CHECK_INT(at_chain_parse(&sk, "   \n", 4), ==, AT_E_PARSE);
	/* a corrupted body inside valid markers */
	bad = strdup(cert);
	bad[40] = '!';
	CHECK_INT(at_chain_parse(&sk, bad, strlen(bad)), ==, AT_E_PARSE);
	free(bad);
	/* caps */
	CHECK_INT(at_chain_parse(&sk, cert, AT_CHAIN_MAX_PEM + 1), ==, AT_E_TOOBIG);
	char *many = calloc(AT_CHAIN_MAX_CERTS + 1, cl + 1);
	REQUIRE(many != NULL);
	for (int i = 0; i <= AT_CHAIN_MAX_CERTS; i++)
		memcpy(many + (size_t)i * cl, cert, cl);
	CHECK_INT(at_chain_parse(&sk, many, cl * AT_CHAIN_MAX_CERTS), ==, 0);
	sk_X509_pop_free(sk, X509_free);
	sk = NULL;
	CHECK_INT(at_chain_parse(&sk, many, cl * (AT_CHAIN_MAX_CERTS + 1)), ==, AT_E_TOOBIG);
	free(many);
	free(two);
	free(key);
	free(cert);
}

static void test_info(void)
{
	EVP_PKEY *k = harness_key_p256();
	REQUIRE(k != NULL);
	X509 *x = harness_cert_sign(k, "Leaf Name", "DNS:Example.COM,DNS:*.example.com,IP:192.0.2.1,IP:2001:db8::1",
				    -60, 3600, 0, NULL, NULL);
	struct at_cert_info info;
	time_t now = time(NULL);

	REQUIRE(x != NULL);
	CHECK_OK(at_cert_info_get(&info, x));
	CHECK_INT(info.nnames, ==, 4);
	if (info.nnames == 4) {
		CHECK_STR(info.names[0], "example.com");
		CHECK_STR(info.names[1], "*.example.com");
		CHECK_STR(info.names[2], "192.0.2.1");
		CHECK_STR(info.names[3], "2001:db8::1");
	}
	CHECK(info.not_before <= now - 50 && info.not_before >= now - 70);
	CHECK(info.not_after >= now + 3590 && info.not_after <= now + 3610);
	CHECK(strstr(info.subject, "CN=Leaf Name") != NULL);
	CHECK(strstr(info.issuer, "CN=Leaf Name") != NULL);
	CHECK(info.serial[0] != '\0');
	at_cert_info_clear(&info);
	at_cert_info_clear(&info); /* twice is fine */
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_check_names_and_key(void)
{
	char *key = NULL, *cert = NULL, *key2 = NULL, *cert2 = NULL;
	size_t kl = 0, cl = 0, kl2 = 0, cl2 = 0;
	struct at_cert_info info;

	REQUIRE(harness_self_signed_pem(&key, &kl, &cert, &cl, "DNS:example.com,DNS:*.example.com,IP:192.0.2.1") == 0);
	REQUIRE(harness_self_signed_pem(&key2, &kl2, &cert2, &cl2, "DNS:example.com") == 0);
	const char *n1[] = { "example.com" };
	const char *n2[] = { "www.example.com", "example.com", "192.0.2.1" };
	const char *n3[] = { "a.b.example.com" };
	const char *n4[] = { "example.org" };
	const char *n5[] = { "example.com", "*.example.com", "192.0.2.1" };
	const char *n6[] = { "xexample.com" };
	const char *n7[] = { "192.0.2.2" };

	CHECK_OK(at_chain_check(cert, cl, key, kl, n1, 1, NULL, 0, &info));
	CHECK_INT(info.nnames, ==, 3);
	at_cert_info_clear(&info);
	CHECK_OK(at_chain_check(cert, cl, key, kl, n2, 3, NULL, 0, NULL));
	CHECK_INT(at_chain_check(cert, cl, key, kl, n3, 1, NULL, 0, NULL), ==, AT_E_NAMES);
	CHECK_INT(at_chain_check(cert, cl, key, kl, n4, 1, NULL, 0, NULL), ==, AT_E_NAMES);
	CHECK_INT(at_chain_check(cert, cl, key, kl, n6, 1, NULL, 0, NULL), ==, AT_E_NAMES);
	CHECK_INT(at_chain_check(cert, cl, key, kl, n7, 1, NULL, 0, NULL), ==, AT_E_NAMES);
	/* exact: the SANs are exactly the names */
	CHECK_INT(at_chain_check(cert, cl, key, kl, n1, 1, NULL, AT_CHECK_NAMES_EXACT, NULL), ==, AT_E_NAMES);
	CHECK_INT(at_chain_check(cert, cl, key, kl, n2, 3, NULL, AT_CHECK_NAMES_EXACT, NULL), ==, AT_E_NAMES);
	CHECK_OK(at_chain_check(cert, cl, key, kl, n5, 3, NULL, AT_CHECK_NAMES_EXACT, NULL));
	/* the key */
	CHECK_INT(at_chain_check(cert, cl, key2, kl2, n1, 1, NULL, 0, NULL), ==, AT_E_KEY_MISMATCH);
	CHECK_INT(at_chain_check(cert, cl, "junk", 4, n1, 1, NULL, 0, NULL), ==, AT_E_PARSE);
	CHECK_INT(at_chain_check(cert, cl, cert2, cl2, n1, 1, NULL, 0, NULL), ==, AT_E_PARSE);
	/* an encrypted key is refused, never prompted for */
	{
		BIO *in = BIO_new_mem_buf(key, (int)kl), *out = BIO_new(BIO_s_mem());
		EVP_PKEY *pk = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
		char pass[] = "secret";
		char *enc = NULL;
		size_t el = 0;
		if (pk && out && PEM_write_bio_PKCS8PrivateKey(out, pk, EVP_aes_128_cbc(), pass, 6, NULL, NULL))
			enc = harness_bio_text(out, &el);
		CHECK(enc != NULL);
		if (enc)
			CHECK_INT(at_chain_check(cert, cl, enc, el, n1, 1, NULL, 0, NULL), ==, AT_E_PARSE);
		free(enc);
		EVP_PKEY_free(pk);
		BIO_free(in);
		BIO_free(out);
	}
	free(key);
	free(cert);
	free(key2);
	free(cert2);
}

static void test_expiry_and_verify(void)
{
	EVP_PKEY *rk = harness_key_p256(), *ik = harness_key_p256(), *lk = harness_key_p256();
	EVP_PKEY *ok2 = harness_key_p256();
	REQUIRE(rk && ik && lk && ok2);
	X509 *root = harness_cert_sign(rk, "Root", NULL, -3600, 86400, 1, NULL, NULL);
	X509 *inter = harness_cert_sign(ik, "Inter", NULL, -3600, 86400, 1, root, rk);
	X509 *leaf = harness_cert_sign(lk, "leaf", "DNS:example.com", -60, 86400, 0, inter, ik);
	X509 *old = harness_cert_sign(lk, "old", "DNS:example.com", -7200, -3600, 0, inter, ik);
	X509 *other = harness_cert_sign(ok2, "Other", NULL, -3600, 86400, 1, NULL, NULL);
	REQUIRE(root && inter && leaf && old && other);
	size_t n;
	char *root_pem = harness_cert_pem(root, &n), *inter_pem = harness_cert_pem(inter, &n);
	char *leaf_pem = harness_cert_pem(leaf, &n), *old_pem = harness_cert_pem(old, &n);
	char *other_pem = harness_cert_pem(other, &n);
	char *key = harness_key_pem(lk, &n);
	char *chain = cat2(leaf_pem, inter_pem), *old_chain = cat2(old_pem, inter_pem);
	const char *names[] = { "example.com" };
	X509_STORE *trust = NULL, *wrong = NULL;

	REQUIRE(chain && old_chain && key && root_pem && other_pem);
	CHECK_OK(at_trust_from_pem(&trust, root_pem, strlen(root_pem)));
	CHECK_OK(at_trust_from_pem(&wrong, other_pem, strlen(other_pem)));
	CHECK_OK(at_chain_check(chain, strlen(chain), key, strlen(key), names, 1, trust, AT_CHECK_NOT_EXPIRED, NULL));
	CHECK_INT(at_chain_check(leaf_pem, strlen(leaf_pem), key, strlen(key), names, 1, trust, 0, NULL), ==,
		  AT_E_CHAIN);
	CHECK_INT(at_chain_check(chain, strlen(chain), key, strlen(key), names, 1, wrong, 0, NULL), ==, AT_E_CHAIN);
	CHECK_INT(at_chain_check(old_chain, strlen(old_chain), key, strlen(key), names, 1, NULL, AT_CHECK_NOT_EXPIRED,
				 NULL), ==, AT_E_EXPIRED);
	CHECK_OK(at_chain_check(old_chain, strlen(old_chain), key, strlen(key), names, 1, NULL, 0, NULL));
	/* A notBefore ahead of our clock (a host clock behind the CA's) is not expired, with or without trust. */
	X509 *early = harness_cert_sign(lk, "early", "DNS:example.com", 3600, 86400, 0, inter, ik);
	REQUIRE(early != NULL);
	char *early_pem = harness_cert_pem(early, &n), *early_chain = cat2(early_pem, inter_pem);
	REQUIRE(early_chain != NULL);
	CHECK_OK(at_chain_check(early_chain, strlen(early_chain), key, strlen(key), names, 1, NULL, AT_CHECK_NOT_EXPIRED,
				NULL));
	CHECK_OK(at_chain_check(early_chain, strlen(early_chain), key, strlen(key), names, 1, trust,
				AT_CHECK_NOT_EXPIRED, NULL));
	X509_free(early);
	free(early_pem);
	free(early_chain);
	/* without AT_CHECK_NOT_EXPIRED, verification does not look at the time either */
	CHECK_OK(at_chain_check(old_chain, strlen(old_chain), key, strlen(key), names, 1, trust, 0, NULL));

	/* the trust store from a file */
	char path[] = "/tmp/at-x509-XXXXXX";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	CHECK(write(fd, root_pem, strlen(root_pem)) == (ssize_t)strlen(root_pem));
	close(fd);
	X509_STORE *fromfile = NULL;
	CHECK_OK(at_trust_from_pem_file(&fromfile, path));
	CHECK_OK(at_chain_check(chain, strlen(chain), key, strlen(key), names, 1, fromfile, 0, NULL));
	unlink(path);
	CHECK_INT(at_trust_from_pem_file(&wrong, path), ==, AT_E_NOTFOUND);
	X509_STORE_free(fromfile);

	X509_STORE_free(trust);
	X509_STORE_free(wrong);
	free(root_pem);
	free(inter_pem);
	free(leaf_pem);
	free(old_pem);
	free(other_pem);
	free(key);
	free(chain);
	free(old_chain);
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(old);
	X509_free(other);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(ok2);
}

/* AT_CHECK_CHAIN_LINKED: what the client asks of a CA's chain without a trust anchor. */
static void test_chain_linked(void)
{
	EVP_PKEY *rk = harness_key_p256(), *ik = harness_key_p256(), *lk = harness_key_p256();
	EVP_PKEY *ok2 = harness_key_p256();
	REQUIRE(rk && ik && lk && ok2);
	X509 *root = harness_cert_sign(rk, "Root", NULL, -3600, 86400, 1, NULL, NULL);
	X509 *inter = harness_cert_sign(ik, "Inter", NULL, -3600, 86400, 1, root, rk);
	X509 *leaf = harness_cert_sign(lk, "leaf", "DNS:example.com", -60, 86400, 0, inter, ik);
	X509 *other = harness_cert_sign(ok2, "Other", NULL, -3600, 86400, 1, NULL, NULL);
	X509 *self = harness_cert_sign(lk, "leaf", "DNS:example.com", -60, 86400, 0, NULL, NULL);
	/* issuer "CN=leaf" = its subject, but signed by another key */
	X509 *namesake = harness_cert_sign(ok2, "leaf", NULL, -3600, 86400, 1, NULL, NULL);
	X509 *forged =
		namesake ? harness_cert_sign(lk, "leaf", "DNS:example.com", -60, 86400, 0, namesake, ok2) : NULL;
	REQUIRE(root && inter && leaf && other && self && forged);
	size_t n;
	char *root_pem = harness_cert_pem(root, &n), *inter_pem = harness_cert_pem(inter, &n);
	char *leaf_pem = harness_cert_pem(leaf, &n), *other_pem = harness_cert_pem(other, &n);
	char *self_pem = harness_cert_pem(self, &n), *forged_pem = harness_cert_pem(forged, &n);
	char *key = harness_key_pem(lk, &n);
	char *chain = cat2(leaf_pem, inter_pem), *unlinked = cat2(leaf_pem, other_pem), *reversed = cat2(inter_pem, leaf_pem);
	char *full = chain ? cat2(chain, root_pem) : NULL;
	const char *names[] = { "example.com" };
	const unsigned f = AT_CHECK_CHAIN_LINKED;
	REQUIRE(key && chain && unlinked && reversed && full && self_pem && forged_pem);

	CHECK_OK(at_chain_check(chain, strlen(chain), key, strlen(key), names, 1, NULL, f, NULL));
	CHECK_OK(at_chain_check(full, strlen(full), key, strlen(key), names, 1, NULL, f, NULL));
	CHECK_OK(at_chain_check(leaf_pem, strlen(leaf_pem), key, strlen(key), names, 1, NULL, f, NULL));
	CHECK_OK(at_chain_check(self_pem, strlen(self_pem), key, strlen(key), names, 1, NULL, f, NULL));
	CHECK_INT(at_chain_check(unlinked, strlen(unlinked), key, strlen(key), names, 1, NULL, f, NULL), ==, AT_E_CHAIN);
	CHECK_INT(at_chain_check(forged_pem, strlen(forged_pem), key, strlen(key), names, 1, NULL, f, NULL), ==,
		  AT_E_CHAIN);
	/* without the flag, neither is looked at (the store's own checks) */
	CHECK_OK(at_chain_check(unlinked, strlen(unlinked), key, strlen(key), names, 1, NULL, 0, NULL));
	CHECK_OK(at_chain_check(forged_pem, strlen(forged_pem), key, strlen(key), names, 1, NULL, 0, NULL));
	/* leaf not first: the key check refuses it before the links are looked at */
	CHECK_INT(at_chain_check(reversed, strlen(reversed), key, strlen(key), names, 1, NULL, f, NULL), ==,
		  AT_E_KEY_MISMATCH);

	free(root_pem);
	free(inter_pem);
	free(leaf_pem);
	free(other_pem);
	free(self_pem);
	free(forged_pem);
	free(key);
	free(chain);
	free(unlinked);
	free(reversed);
	free(full);
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(other);
	X509_free(self);
	X509_free(namesake);
	X509_free(forged);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(ok2);
}

int main(void)
{
	RUN(test_parse);
	RUN(test_info);
	RUN(test_check_names_and_key);
	RUN(test_expiry_and_verify);
	RUN(test_chain_linked);
	return TEST_EXIT();
}
