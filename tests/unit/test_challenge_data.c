/*
 * Challenge data: key authorization, the dns-01 TXT value, the TLS-ALPN-01 certificate (RFC 8737 section 3,
 * RFC 8738 section 6), reverse names and the challenge type names.
 */
#include "acme/challenge_data.h"
#include "acme/jws.h"
#include "acme/solver.h"
#include "tests/test.h"
#include "util/b64.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char token[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";
/* token "." the RFC 7638 section 3.1 thumbprint */
static const char fixed_keyauth[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
/* base64url(SHA-256(fixed_keyauth)), computed outside this code with `openssl dgst -sha256 -binary | basenc
 * --base64url` (padding removed). The RFC 8555 section 8.4 example value cannot be reproduced: the RFC does not
 * give the account key behind it. */
static const char fixed_txt[] = "ZTRx1Ckl1-tM05o5zaizTTA0yUy5AGereMgSNWC6Ll8";

static void test_key_authorization(void)
{
	struct at_jws_key *key = NULL;
	char *ka = NULL;
	const char *tp;

	REQUIRE(at_jws_key_generate(&key, AT_KEY_P256) == 0);
	tp = at_jws_key_thumbprint(key);
	CHECK_OK(at_key_authorization(&ka, token, key));
	REQUIRE(ka != NULL);
	CHECK_INT(strlen(ka), ==, strlen(token) + 1 + strlen(tp));
	CHECK(strncmp(ka, token, strlen(token)) == 0);
	CHECK(ka[strlen(token)] == '.');
	CHECK_STR(ka + strlen(token) + 1, tp);
	free(ka);
	at_jws_key_free(key);
}

static void test_dns01_value(void)
{
	char *v = NULL;
	char *indep = NULL;
	unsigned char d[SHA256_DIGEST_LENGTH];

	CHECK_OK(at_dns01_txt_value(&v, fixed_keyauth));
	CHECK_STR(v, fixed_txt);
	/* And again through the one-shot SHA256() rather than the EVP path the library takes. */
	SHA256((const unsigned char *)fixed_keyauth, strlen(fixed_keyauth), d);
	CHECK_OK(at_b64url_encode(&indep, d, sizeof(d)));
	CHECK_STR(v, indep);
	CHECK_INT(strlen(v), ==, 43);
	free(indep);
	free(v);
	v = NULL;
	CHECK_INT(at_dns01_txt_value(&v, ""), ==, AT_E_INVAL);
	CHECK_INT(at_dns01_txt_value(&v, NULL), ==, AT_E_INVAL);
	CHECK(v == NULL);
}

/* Checks the RFC 8737 certificate for identifier; ip says whether the SAN must be an iPAddress. */
static void check_alpn_cert(const char *identifier, int ip)
{
	static const char keyauth[] = "tok123.thumb456";
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	unsigned char want[2 + SHA256_DIGEST_LENGTH];
	ASN1_OBJECT *oid = NULL;
	GENERAL_NAMES *gens = NULL;
	int crit = -1, idx;
	time_t now = time(NULL);

	REQUIRE(at_alpn01_cert_make(&cert, &key, identifier, keyauth) == 0);
	REQUIRE(cert != NULL && key != NULL);
	CHECK(EVP_PKEY_is_a(key, "EC"));
	CHECK_INT(EVP_PKEY_get_bits(key), ==, 256);
	CHECK_INT(X509_check_private_key(cert, key), ==, 1);
	CHECK_INT(X509_verify(cert, key), ==, 1); /* self-signed */
	CHECK_INT(X509_get_version(cert), ==, X509_VERSION_3);

	/* Validity brackets now: from about an hour ago to about a week ahead. */
	time_t lo = now - 2 * 3600, hi = now + 8 * 24 * 3600;
	CHECK_INT(X509_cmp_time(X509_get0_notBefore(cert), &now), ==, -1);
	CHECK_INT(X509_cmp_time(X509_get0_notBefore(cert), &lo), ==, 1);
	CHECK_INT(X509_cmp_time(X509_get0_notAfter(cert), &hi), ==, -1);
	time_t six_days = now + 6 * 24 * 3600;
	CHECK_INT(X509_cmp_time(X509_get0_notAfter(cert), &six_days), ==, 1);

	/* The acmeIdentifier extension: critical, value = DER OCTET STRING(SHA-256(keyauth)) = 04 20 || digest. */
	oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	REQUIRE(oid != NULL);
	idx = X509_get_ext_by_OBJ(cert, oid, -1);
	CHECK(idx >= 0);
	if (idx >= 0) {
		X509_EXTENSION *ext = X509_get_ext(cert, idx);
		const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);

		CHECK_INT(X509_EXTENSION_get_critical(ext), ==, 1);
		SHA256((const unsigned char *)keyauth, strlen(keyauth), digest);
		want[0] = 0x04;
		want[1] = 0x20;
		memcpy(want + 2, digest, sizeof(digest));
		CHECK_INT(ASN1_STRING_length(val), ==, (int)sizeof(want));
		CHECK(ASN1_STRING_length(val) == (int)sizeof(want) &&
		      memcmp(ASN1_STRING_get0_data(val), want, sizeof(want)) == 0);
		CHECK_INT(X509_get_ext_by_OBJ(cert, oid, idx), ==, -1); /* exactly one */
	}
	ASN1_OBJECT_free(oid);

	/* The SAN is exactly the identifier. */
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	REQUIRE(gens != NULL);
	CHECK_INT(sk_GENERAL_NAME_num(gens), ==, 1);
	if (sk_GENERAL_NAME_num(gens) == 1) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
		if (ip) {
			unsigned char a[16];
			int alen = inet_pton(AF_INET, identifier, a) == 1 ? 4 : 16;

			CHECK_INT(gn->type, ==, GEN_IPADD);
			if (alen == 16)
				CHECK_INT(inet_pton(AF_INET6, identifier, a), ==, 1);
			CHECK(gn->type == GEN_IPADD && ASN1_STRING_length(gn->d.iPAddress) == alen &&
			      memcmp(ASN1_STRING_get0_data(gn->d.iPAddress), a, (size_t)alen) == 0);
		} else {
			CHECK_INT(gn->type, ==, GEN_DNS);
			CHECK(gn->type == GEN_DNS &&
			      ASN1_STRING_length(gn->d.dNSName) == (int)strlen(identifier) &&
			      memcmp(ASN1_STRING_get0_data(gn->d.dNSName), identifier, strlen(identifier)) == 0);
		}
	}
	CHECK_INT(X509_check_host(cert, ip ? "no.such.name" : identifier, 0, 0, NULL), ==, ip ? 0 : 1);
	if (ip)
		CHECK_INT(X509_check_ip_asc(cert, identifier, 0), ==, 1);
	GENERAL_NAMES_free(gens);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void test_alpn_cert_dns(void)
{
	check_alpn_cert("example.com", 0);
}

static void test_alpn_cert_ipv4(void)
{
	check_alpn_cert("192.0.2.1", 1);
}

static void test_alpn_cert_ipv6(void)
{
	check_alpn_cert("2001:db8::1", 1);
}

static void test_alpn_cert_refuses(void)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;

	CHECK_INT(at_alpn01_cert_make(&cert, &key, "*.example.com", "a.b"), ==, AT_E_INVAL);
	CHECK_INT(at_alpn01_cert_make(&cert, &key, "", "a.b"), ==, AT_E_INVAL);
	CHECK_INT(at_alpn01_cert_make(&cert, &key, "example.com", ""), ==, AT_E_INVAL);
	CHECK_INT(at_alpn01_cert_make(&cert, &key, NULL, "a.b"), ==, AT_E_INVAL);
	CHECK(cert == NULL && key == NULL);
}

static void test_reverse_names(void)
{
	char *s = NULL;

	CHECK_OK(at_reverse_dns_name(&s, "127.0.0.1"));
	CHECK_STR(s, "1.0.0.127.in-addr.arpa"); /* RFC 8738 section 6 */
	free(s);
	s = NULL;
	CHECK_OK(at_reverse_dns_name(&s, "192.0.2.10"));
	CHECK_STR(s, "10.2.0.192.in-addr.arpa");
	free(s);
	s = NULL;
	CHECK_OK(at_reverse_dns_name(&s, "::1"));
	CHECK_STR(s, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
	free(s);
	s = NULL;
	/* RFC 3596 section 2.5 example address 4321:0:1:2:3:4:567:89ab. */
	CHECK_OK(at_reverse_dns_name(&s, "4321:0:1:2:3:4:567:89ab"));
	CHECK_STR(s, "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa");
	free(s);
	s = NULL;
	CHECK_INT(at_reverse_dns_name(&s, "example.com"), ==, AT_E_INVAL);
	CHECK_INT(at_reverse_dns_name(&s, "1.2.3"), ==, AT_E_INVAL);
	CHECK_INT(at_reverse_dns_name(&s, ""), ==, AT_E_INVAL);
	CHECK(s == NULL);
}

static void test_challenge_type_names(void)
{
	static const struct {
		const char *s;
		int rc;
		enum at_challenge_type t;
	} cases[] = {
		{ "tls-alpn-01", 0, AT_CHALLENGE_TLS_ALPN_01 },
		{ "http-01", 0, AT_CHALLENGE_HTTP_01 },
		{ "dns-01", 0, AT_CHALLENGE_DNS_01 },
		{ "dns-account-01", AT_E_UNSUPPORTED, 0 },
		{ "HTTP-01", AT_E_UNSUPPORTED, 0 },
		{ "http-01 ", AT_E_UNSUPPORTED, 0 },
		{ "", AT_E_UNSUPPORTED, 0 },
		{ "tls-sni-01", AT_E_UNSUPPORTED, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum at_challenge_type t = AT_CHALLENGE_COUNT;
		CHECK_INT(at_challenge_type_parse(&t, cases[i].s), ==, cases[i].rc);
		if (cases[i].rc == 0) {
			CHECK_INT(t, ==, cases[i].t);
			CHECK_STR(at_challenge_type_name(t), cases[i].s);
		} else {
			CHECK_INT(t, ==, AT_CHALLENGE_COUNT); /* untouched on failure */
		}
	}
	enum at_challenge_type t;
	CHECK_INT(at_challenge_type_parse(&t, NULL), ==, AT_E_UNSUPPORTED);
	CHECK_STR(at_challenge_type_name(AT_CHALLENGE_COUNT), "unknown");
}

int main(void)
{
	RUN(test_key_authorization);
	RUN(test_dns01_value);
	RUN(test_alpn_cert_dns);
	RUN(test_alpn_cert_ipv4);
	RUN(test_alpn_cert_ipv6);
	RUN(test_alpn_cert_refuses);
	RUN(test_reverse_names);
	RUN(test_challenge_type_names);
	return TEST_EXIT();
}
