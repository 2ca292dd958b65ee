/* The finalize CSR: parses, verifies with its own key, has no CN, and carries exactly the names as SANs. */
#include "acme/csr.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/keys.h"

#include <arpa/inet.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* Formats a SAN entry as text ("DNS:name" or "IP:addr") into buf; returns 0 on success. */
static int san_text(char *buf, size_t size, const GENERAL_NAME *gn)
{
	const unsigned char *d;
	int len;
	char addr[INET6_ADDRSTRLEN];

	if (gn->type == GEN_DNS) {
		d = ASN1_STRING_get0_data(gn->d.dNSName);
		len = ASN1_STRING_length(gn->d.dNSName);
		snprintf(buf, size, "DNS:%.*s", len, (const char *)d);
		return 0;
	}
	if (gn->type == GEN_IPADD) {
		d = ASN1_STRING_get0_data(gn->d.iPAddress);
		len = ASN1_STRING_length(gn->d.iPAddress);
		if ((len != 4 && len != 16) || inet_ntop(len == 4 ? AF_INET : AF_INET6, d, addr, sizeof(addr)) == NULL)
			return -1;
		snprintf(buf, size, "IP:%s", addr);
		return 0;
	}
	return -1;
}

static void check_csr(enum at_key_type type)
{
	static const char *const names[] = { "example.com", "www.example.com", "*.example.org", "192.0.2.7",
					     "2001:db8::1" };
	static const char *const want[] = { "DNS:example.com", "DNS:www.example.com", "DNS:*.example.org",
					    "IP:192.0.2.7", "IP:2001:db8::1" };
	const size_t n = sizeof(names) / sizeof(names[0]);
	EVP_PKEY *key = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	int crit = -1;

	REQUIRE(at_key_generate(&key, type) == 0);
	CHECK_OK(at_csr_make(&der, &len, key, names, n));
	REQUIRE(der != NULL && len > 0);
	p = der;
	req = d2i_X509_REQ(NULL, &p, (long)len);
	REQUIRE(req != NULL);
	CHECK(p == der + len);
	/* Self-signature verifies with the certificate key, and the embedded key is that key. */
	CHECK_INT(X509_REQ_verify(req, key), ==, 1);
	CHECK_INT(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key), ==, 1);
	CHECK_INT(X509_REQ_get_signature_nid(req) != NID_undef, ==, 1);
	/* No Common Name at all: the subject is empty. */
	CHECK_INT(X509_NAME_get_index_by_NID(X509_REQ_get_subject_name(req), NID_commonName, -1), ==, -1);
	CHECK_INT(X509_NAME_entry_count(X509_REQ_get_subject_name(req)), ==, 0);

	exts = X509_REQ_get_extensions(req);
	REQUIRE(exts != NULL);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	REQUIRE(gens != NULL);
	CHECK_INT(crit, ==, 1);
	CHECK_INT(sk_GENERAL_NAME_num(gens), ==, (int)n);
	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && i < (int)n; i++) {
		char buf[300] = "";
		CHECK_OK(san_text(buf, sizeof(buf), sk_GENERAL_NAME_value(gens, i)));
		CHECK_STR(buf, want[i]);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(der);
	EVP_PKEY_free(key);
}

static void test_csr_p256(void)
{
	check_csr(AT_KEY_P256);
}

static void test_csr_p384(void)
{
	check_csr(AT_KEY_P384);
}

static void test_csr_rsa2048(void)
{
	check_csr(AT_KEY_RSA2048);
}

static void test_csr_refuses_bad_input(void)
{
	EVP_PKEY *key = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	char longname[300];
	const char *names_long[] = { longname };
	const char *names_empty[] = { "" };
	const char *names_null[] = { NULL };
	const char *one[] = { "example.com" };

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	REQUIRE(at_key_generate(&key, AT_KEY_P256) == 0);
	CHECK_INT(at_csr_make(&der, &len, key, one, 0), ==, AT_E_INVAL);
	CHECK_INT(at_csr_make(&der, &len, key, NULL, 1), ==, AT_E_INVAL);
	CHECK_INT(at_csr_make(&der, &len, NULL, one, 1), ==, AT_E_INVAL);
	CHECK_INT(at_csr_make(&der, &len, key, names_empty, 1), ==, AT_E_INVAL);
	CHECK_INT(at_csr_make(&der, &len, key, names_null, 1), ==, AT_E_INVAL);
	CHECK_INT(at_csr_make(&der, &len, key, names_long, 1), ==, AT_E_INVAL);
	CHECK(der == NULL && len == 0);
	EVP_PKEY_free(key);
}

/* AUTOTLS_MUST_STAPLE: the CSR asks for TLS Feature status_request (RFC 7633), non-critical; without it, no
 * TLS Feature at all. */
static void test_csr_must_staple(void)
{
	EVP_PKEY *key = NULL;
	const char *one[] = { "example.com" };
	REQUIRE(at_key_generate(&key, AT_KEY_P256) == 0);
	for (int want = 0; want <= 1; want++) {
		unsigned char *der = NULL;
		size_t len = 0;
		REQUIRE(at_csr_make_ex(&der, &len, key, one, 1, want) == 0);
		const unsigned char *p = der;
		X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
		REQUIRE(req != NULL);
		CHECK_INT(X509_REQ_verify(req, key), ==, 1);
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
		int crit = -1;
		TLS_FEATURE *f = X509V3_get_d2i(exts, NID_tlsfeature, &crit, NULL);
		CHECK_INT(f != NULL, ==, want);
		if (f != NULL) {
			CHECK_INT(crit, ==, 0);
			CHECK_INT(sk_ASN1_INTEGER_num(f), ==, 1);
			CHECK_INT(ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, 0)), ==, 5);
		}
		/* The names are there either way. */
		GENERAL_NAMES *gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
		CHECK(gens != NULL && sk_GENERAL_NAME_num(gens) == 1);
		GENERAL_NAMES_free(gens);
		sk_ASN1_INTEGER_pop_free(f, ASN1_INTEGER_free);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
		X509_REQ_free(req);
		free(der);
	}
	EVP_PKEY_free(key);
}

static void test_name_is_ip(void)
{
	static const struct {
		const char *s;
		int ip;
	} cases[] = {
		{ "127.0.0.1", 1 },     { "192.0.2.255", 1 },     { "::1", 1 },          { "2001:db8::1", 1 },
		{ "::ffff:192.0.2.1", 1 }, { "example.com", 0 },  { "1.2.3", 0 },        { "256.1.1.1", 0 },
		{ "1.2.3.4.5", 0 },     { "", 0 },                { "fe80::1%eth0", 0 }, { "[::1]", 0 },
		{ " 1.2.3.4", 0 },      { "1.2.3.4 ", 0 },        { "01.2.3.4", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (at_name_is_ip(cases[i].s) != cases[i].ip)
			fprintf(stderr, "  at_name_is_ip(\"%s\")\n", cases[i].s);
		CHECK_INT(at_name_is_ip(cases[i].s), ==, cases[i].ip);
	}
	CHECK_INT(at_name_is_ip(NULL), ==, 0);
}

int main(void)
{
	RUN(test_csr_p256);
	RUN(test_csr_p384);
	RUN(test_csr_rsa2048);
	RUN(test_csr_refuses_bad_input);
	RUN(test_csr_must_staple);
	RUN(test_name_is_ip);
	return TEST_EXIT();
}
