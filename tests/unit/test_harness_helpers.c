/*
 * The test harness's own helpers that need no Pebble: free ports, whole-file reads, and the throwaway
 * certificates (a CA, a leaf it signs with the SANs asked for, and a self-signed leaf).
 */
#include "tests/harness/certgen.h"
#include "tests/harness/pebble.h"
#include "tests/test.h"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

static void test_free_port(void)
{
	int a = harness_free_port(), b = harness_free_port();
	CHECK(a > 1024 && a < 65536);
	CHECK(b > 1024 && b < 65536);
}

static void test_read_file(void)
{
	char path[] = "/tmp/autotls-unit-XXXXXX";
	size_t len = 1;
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	CHECK(write(fd, "ab\0cd", 5) == 5);
	close(fd);
	char *d = harness_read_file(path, &len);
	CHECK(d != NULL && len == 5 && memcmp(d, "ab\0cd", 6) == 0);
	free(d);
	unlink(path);
	CHECK(harness_read_file(path, &len) == NULL);
}

static int has_san(X509 *x, const char *dns, const char *ip)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int found_dns = dns == NULL, found_ip = ip == NULL;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS && dns != NULL && ASN1_STRING_length(g->d.dNSName) == (int)strlen(dns) &&
		    memcmp(ASN1_STRING_get0_data(g->d.dNSName), dns, strlen(dns)) == 0)
			found_dns = 1;
		if (g->type == GEN_IPADD && ip != NULL && ASN1_STRING_length(g->d.iPAddress) == 4 &&
		    memcmp(ASN1_STRING_get0_data(g->d.iPAddress), "\x7f\0\0\x01", 4) == 0)
			found_ip = 1;
	}
	GENERAL_NAMES_free(gens);
	return found_dns && found_ip;
}

static void test_certgen_chain(void)
{
	X509 *ca = NULL, *leaf = NULL, *self = NULL;
	EVP_PKEY *ca_key = NULL, *leaf_key = NULL, *self_key = NULL;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();

	REQUIRE(store != NULL && ctx != NULL);
	REQUIRE(harness_cert_make(&ca, &ca_key, "test CA", NULL, NULL, 1, NULL, NULL, 2) == 0);
	REQUIRE(harness_cert_make(&leaf, &leaf_key, "localhost", "localhost", "127.0.0.1", 0, ca, ca_key, 2) == 0);
	REQUIRE(harness_cert_make(&self, &self_key, "a.test", "a.test", NULL, 0, NULL, NULL, 1) == 0);
	CHECK(X509_check_ca(ca) == 1);
	CHECK(X509_check_ca(leaf) == 0);
	CHECK(has_san(leaf, "localhost", "127.0.0.1"));
	CHECK(has_san(self, "a.test", NULL));
	CHECK(X509_check_private_key(leaf, leaf_key) == 1);
	CHECK(X509_check_private_key(self, self_key) == 1);
	/* The leaf verifies against the CA, as a TLS server certificate for 127.0.0.1 and localhost. */
	CHECK(X509_STORE_add_cert(store, ca) == 1);
	CHECK(X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), "localhost", 0);
	CHECK(X509_verify_cert(ctx) == 1);
	/* Either signer or neither. */
	X509 *bad = NULL;
	EVP_PKEY *bad_key = NULL;
	CHECK(harness_cert_make(&bad, &bad_key, "x", NULL, NULL, 0, ca, NULL, 1) == -1);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(ca);
	X509_free(leaf);
	X509_free(self);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(self_key);
}

int main(void)
{
	RUN(test_free_port);
	RUN(test_read_file);
	RUN(test_certgen_chain);
	return TEST_EXIT();
}
