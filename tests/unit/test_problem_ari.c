/* Unit tests: problem documents, ARI windows and certificate identifiers, Retry-After, Link headers. */
#include "acme/acme.h"
#include "acme/http.h"
#include "acme/problem.h"
#include "tests/harness/certgen.h"
#include "tests/test.h"
#include "util/err.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static void problem_parse_table(void)
{
	static const struct {
		const char *json;
		int parses;
		int code;
		const char *short_type;
	} t[] = {
		{ "{\"type\":\"urn:ietf:params:acme:error:badNonce\",\"detail\":\"x\"}", 1, AT_E_BADNONCE, "badNonce" },
		{ "{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"status\":429}", 1, AT_E_RATELIMITED, "rateLimited" },
		{ "{\"type\":\"urn:ietf:params:acme:error:alreadyRevoked\"}", 1, AT_E_ALREADY_REVOKED, "alreadyRevoked" },
		{ "{\"type\":\"urn:ietf:params:acme:error:externalAccountRequired\"}", 1, AT_E_EAB_REQUIRED, "externalAccountRequired" },
		{ "{\"type\":\"urn:ietf:params:acme:error:accountDoesNotExist\"}", 1, AT_E_NO_ACCOUNT, "accountDoesNotExist" },
		{ "{\"type\":\"urn:ietf:params:acme:error:somethingNew\"}", 1, AT_E_ACME, "somethingNew" },
		{ "{\"type\":\"about:blank\"}", 1, AT_E_ACME, "about:blank" },
		/* hostile or broken */
		{ "", 0, 0, NULL },
		{ "[]", 0, 0, NULL },
		{ "{\"type\":5}", 0, 0, NULL },
		{ "{\"detail\":\"no type\"}", 0, 0, NULL },
		{ "{\"type\":\"urn:ietf:params:acme:error:x\"", 0, 0, NULL },
		{ "\"string\"", 0, 0, NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct at_problem p;
		memset(&p, 0, sizeof(p));
		int rc = at_problem_parse(&p, t[i].json, strlen(t[i].json));
		CHECK_INT(rc == 0, ==, t[i].parses);
		if (rc == 0) {
			CHECK_INT(at_problem_code(&p), ==, t[i].code);
			CHECK_STR(at_problem_short_type(&p), t[i].short_type);
		}
		at_problem_clear(&p);
	}
}

static void problem_subproblems(void)
{
	const char *j = "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"Some of the identifiers "
			"requested were rejected\",\"status\":400,\"subproblems\":["
			"{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"Invalid underscore in DNS name "
			"\\\"_example.org\\\"\",\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}},"
			"{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"This CA will not issue "
			"for \\\"example.net\\\"\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}]}";
	struct at_problem p;
	memset(&p, 0, sizeof(p));
	REQUIRE(at_problem_parse(&p, j, strlen(j)) == 0);
	CHECK_INT(p.status, ==, 400);
	CHECK_INT(p.nsub, ==, 2);
	CHECK_STR(p.sub[0].identifier, "_example.org");
	CHECK_STR(p.sub[1].type, "urn:ietf:params:acme:error:rejectedIdentifier");
	CHECK_STR(p.sub[1].identifier, "example.net");
	at_problem_clear(&p);

	/* More subproblems than we keep are dropped, not overflowed. */
	char big[8192];
	size_t o = (size_t)snprintf(big, sizeof(big), "{\"type\":\"t\",\"subproblems\":[");
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s{\"type\":\"s%d\"}", i ? "," : "", i);
	snprintf(big + o, sizeof(big) - o, "]}");
	REQUIRE(at_problem_parse(&p, big, strlen(big)) == 0);
	CHECK_INT(p.nsub, ==, AT_PROBLEM_MAX_SUB);
	at_problem_clear(&p);
}

static void ari_window_table(void)
{
	static const struct {
		const char *json;
		int parses;
		long start, end;
	} t[] = {
		/* RFC 9773 section 4.2 example form */
		{ "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"},"
		  "\"explanationURL\":\"https://acme.example.com/docs/ari\"}", 1, 1735790400L, 1735876800L },
		{ "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00.123Z\",\"end\":\"2025-01-02T06:00:00+01:00\"}}",
		  1, 1735790400L, 1735794000L },
		/* end before start: invalid, must be ignored (section 4.2) */
		{ "{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\",\"end\":\"2025-01-02T04:00:00Z\"}}", 0, 0, 0 },
		{ "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\"}}", 0, 0, 0 },
		{ "{\"suggestedWindow\":{\"start\":\"yesterday\",\"end\":\"2025-01-02T04:00:00Z\"}}", 0, 0, 0 },
		{ "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00\",\"end\":\"2025-01-03T04:00:00Z\"}}", 0, 0, 0 },
		{ "{\"suggestedWindow\":[]}", 0, 0, 0 },
		{ "{}", 0, 0, 0 },
		{ "not json", 0, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct at_ari_window w;
		memset(&w, 0, sizeof(w));
		int rc = at_ari_parse(&w, t[i].json, strlen(t[i].json));
		CHECK_INT(rc == 0, ==, t[i].parses);
		if (rc == 0) {
			CHECK_INT(w.start, ==, t[i].start);
			CHECK_INT(w.end, ==, t[i].end);
			for (unsigned r = 0; r < 1000; r += 7) {
				time_t pick = at_ari_pick(&w, r * 2654435761u);
				CHECK(pick >= w.start && pick <= w.end);
			}
		}
		at_ari_window_clear(&w);
	}
}

static void ari_cert_id_rfc_example(void)
{
	/* RFC 9773 Appendix A: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and serial
	 * 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". We make a certificate with those values. */
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	REQUIRE(k && x);
	static const unsigned char aki[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
					     0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4 };
	BIGNUM *bn = NULL;
	BN_hex2bn(&bn, "87654321");
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"ari", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, k);
	AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
	ak->keyid = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(ak->keyid, aki, sizeof(aki));
	X509_add1_ext_i2d(x, NID_authority_key_identifier, ak, 0, X509V3_ADD_DEFAULT);
	AUTHORITY_KEYID_free(ak);
	REQUIRE(X509_sign(x, k, EVP_sha256()) > 0);
	size_t n = 0;
	char *pem = harness_cert_pem(x, &n);
	char *id = NULL;
	REQUIRE(pem != NULL);
	CHECK_OK(at_ari_cert_id(&id, pem, n));
	CHECK_STR(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	free(id);
	free(pem);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void retry_after_values(void)
{
	long s = -1;
	CHECK_OK(at_http_retry_after(&s, "120", 1000));
	CHECK_INT(s, ==, 120);
	CHECK_OK(at_http_retry_after(&s, " 0 ", 1000));
	CHECK_INT(s, ==, 0);
	CHECK_OK(at_http_retry_after(&s, "99999999", 1000));
	CHECK_INT(s, ==, 86400); /* capped */
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 */
	CHECK_OK(at_http_retry_after(&s, "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 30));
	CHECK_INT(s, ==, 30);
	CHECK_OK(at_http_retry_after(&s, "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 30));
	CHECK_INT(s, ==, 0); /* in the past */
	CHECK_INT(at_http_retry_after(&s, "-5", 0), ==, AT_E_PARSE);
	CHECK_INT(at_http_retry_after(&s, "soon", 0), ==, AT_E_PARSE);
	CHECK_INT(at_http_retry_after(&s, "12abc", 0), ==, AT_E_PARSE);
	CHECK_INT(at_http_retry_after(&s, "", 0), ==, AT_E_PARSE);
	CHECK_INT(at_http_retry_after(&s, NULL, 0), ==, AT_E_PARSE);
}

static void link_headers(void)
{
	struct at_http_response r;
	memset(&r, 0, sizeof(r));
	r.links[0] = strdup("<https://ca.test/dir>;rel=\"index\"");
	r.links[1] = strdup("<https://ca.test/cert/1/alt/1>; rel=\"alternate\", <https://ca.test/cert/1/alt/2>; rel=alternate");
	r.links[2] = strdup("<https://ca.test/x>; rel=\"up alternate\"");
	r.links[3] = strdup("<https://ca.test/broken; rel=\"alternate\"");
	r.nlinks = 4;
	char *u = NULL;
	CHECK_OK(at_http_link(&u, &r, "index", 0));
	CHECK_STR(u, "https://ca.test/dir");
	free(u);
	CHECK_OK(at_http_link(&u, &r, "alternate", 0));
	CHECK_STR(u, "https://ca.test/cert/1/alt/1");
	free(u);
	CHECK_OK(at_http_link(&u, &r, "alternate", 1));
	CHECK_STR(u, "https://ca.test/cert/1/alt/2");
	free(u);
	CHECK_OK(at_http_link(&u, &r, "alternate", 2));
	CHECK_STR(u, "https://ca.test/x");
	free(u);
	CHECK_INT(at_http_link(&u, &r, "alternate", 3), ==, AT_E_NOTFOUND);
	CHECK_INT(at_http_link(&u, &r, "up-missing", 0), ==, AT_E_NOTFOUND);
	at_http_response_clear(&r);
}

int main(void)
{
	RUN(problem_parse_table);
	RUN(problem_subproblems);
	RUN(ari_window_table);
	RUN(ari_cert_id_rfc_example);
	RUN(retry_after_values);
	RUN(link_headers);
	return TEST_EXIT();
}
