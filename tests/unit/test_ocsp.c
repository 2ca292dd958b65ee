/*
 * acme/ocsp.c: the responder URL from a leaf's AIA, and the check of a response against the issuer, with responses
 * made here by OpenSSL's responder API: good, revoked, delegated to an OCSP signer, signed by a stranger, for
 * another certificate, past nextUpdate, not a response; and one fetch over the HTTP seam (the request it sends,
 * the answer it checks).
 */
#include "acme/ocsp.h"
#include "tests/harness/certgen.h"
#include "tests/test.h"

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static X509 *ca, *leaf, *other, *stranger, *signer;
static EVP_PKEY *ca_key, *leaf_key, *other_key, *stranger_key, *signer_key;
static char *chain; /* leaf then ca */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	int ok = e != NULL && X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* A response about cert (issued by ca) with status, signed by key under rcert; next_s: nextUpdate from now. */
static unsigned char *respond(size_t *len, X509 *cert, int status, X509 *rcert, EVP_PKEY *key, long this_s, long next_s)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, ca);
	ASN1_TIME *thisu = X509_gmtime_adj(NULL, this_s), *nextu = X509_gmtime_adj(NULL, next_s),
		  *rev = X509_gmtime_adj(NULL, -60);
	unsigned char *der = NULL;
	OCSP_RESPONSE *r = NULL;
	if (bs && id && OCSP_basic_add1_status(bs, id, status, status == V_OCSP_CERTSTATUS_REVOKED ? 1 : -1,
					       status == V_OCSP_CERTSTATUS_REVOKED ? rev : NULL, thisu, nextu) &&
	    OCSP_basic_sign(bs, rcert, key, EVP_sha256(), NULL, 0) == 1)
		r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	int n = r ? i2d_OCSP_RESPONSE(r, &der) : -1;
	*len = n > 0 ? (size_t)n : 0;
	OCSP_RESPONSE_free(r);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisu);
	ASN1_TIME_free(nextu);
	ASN1_TIME_free(rev);
	return der;
}

static void setup(void)
{
	REQUIRE(harness_cert_make(&ca, &ca_key, "ocsp test CA", NULL, NULL, 1, NULL, NULL, 2) == 0);
	REQUIRE((leaf_key = harness_key_p256()) != NULL);
	REQUIRE((leaf = harness_cert_sign(leaf_key, "leaf", "DNS:a.test", -60, 86400, 0, ca, ca_key)) != NULL);
	REQUIRE(add_ext(leaf, ca, NID_info_access, "OCSP;URI:http://127.0.0.1:9/ocsp") == 0);
	REQUIRE(X509_sign(leaf, ca_key, EVP_sha256()) > 0);
	REQUIRE(harness_cert_make(&other, &other_key, "other", "b.test", NULL, 0, ca, ca_key, 1) == 0);
	REQUIRE(harness_cert_make(&stranger, &stranger_key, "stranger", NULL, NULL, 1, NULL, NULL, 1) == 0);
	REQUIRE((signer_key = harness_key_p256()) != NULL);
	REQUIRE((signer = harness_cert_sign(signer_key, "ocsp signer", NULL, -60, 86400, 0, ca, ca_key)) != NULL);
	/* Its serverAuth extended key usage replaced by OCSPSigning (RFC 6960 4.2.2.2). */
	int at = X509_get_ext_by_NID(signer, NID_ext_key_usage, -1);
	if (at >= 0)
		X509_EXTENSION_free(X509_delete_ext(signer, at));
	REQUIRE(add_ext(signer, ca, NID_ext_key_usage, "OCSPSigning") == 0);
	REQUIRE(X509_sign(signer, ca_key, EVP_sha256()) > 0);
	char *a = harness_cert_pem(leaf, NULL), *b = harness_cert_pem(ca, NULL);
	REQUIRE(a && b && (chain = malloc(strlen(a) + strlen(b) + 1)) != NULL);
	strcpy(chain, a);
	strcat(chain, b);
	free(a);
	free(b);
}

static void url_from_aia(void)
{
	char *url = NULL;
	CHECK_OK(at_ocsp_url(&url, chain, strlen(chain)));
	CHECK_STR(url, "http://127.0.0.1:9/ocsp");
	free(url);
	char *pem = harness_cert_pem(other, NULL);
	CHECK_INT(at_ocsp_url(&url, pem, strlen(pem)), ==, AT_E_NOTFOUND); /* no responder: nothing to staple */
	free(pem);
	CHECK_INT(at_ocsp_url(&url, "garbage", 7), ==, AT_E_PARSE);
	/* The quick filter: a leaf with a responder is worth a look, one without is not; what it cannot read is. */
	CHECK_INT(at_ocsp_worth_a_look(chain, strlen(chain)), ==, 1);
	pem = harness_cert_pem(other, NULL);
	CHECK_INT(at_ocsp_worth_a_look(pem, strlen(pem)), ==, 0);
	free(pem);
	CHECK_INT(at_ocsp_worth_a_look("garbage", 7), ==, 1);
}

/* RFC 7633: the TLS Feature extension with status_request (5) is must-staple; other features, or none, are not. */
static void must_staple_from_tls_feature(void)
{
	int must = -1;
	CHECK_OK(at_ocsp_must_staple(&must, chain, strlen(chain)));
	CHECK_INT(must, ==, 0);
	static const char *const features[] = { "status_request", "status_request_v2", "status_request,status_request_v2" };
	static const int want[] = { 1, 0, 1 };
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		EVP_PKEY *k = harness_key_p256();
		X509 *x = k ? harness_cert_sign(k, "must", "DNS:m.test", -60, 86400, 0, ca, ca_key) : NULL;
		REQUIRE(x != NULL);
		REQUIRE(add_ext(x, ca, NID_tlsfeature, features[i]) == 0);
		REQUIRE(X509_sign(x, ca_key, EVP_sha256()) > 0);
		char *pem = harness_cert_pem(x, NULL);
		REQUIRE(pem != NULL);
		must = -1;
		CHECK_OK(at_ocsp_must_staple(&must, pem, strlen(pem)));
		CHECK_INT(must, ==, want[i]);
		CHECK_INT(at_ocsp_worth_a_look(pem, strlen(pem)), ==, 1); /* no responder, but a TLS Feature */
		free(pem);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	CHECK_INT(at_ocsp_must_staple(&must, "garbage", 7), ==, AT_E_PARSE);
}

static void responses_checked_against_the_issuer(void)
{
	struct at_ocsp_status st;
	size_t n;
	unsigned char *der = respond(&n, leaf, V_OCSP_CERTSTATUS_GOOD, ca, ca_key, -10, 3600);
	REQUIRE(der != NULL);
	CHECK_OK(at_ocsp_check(&st, der, n, chain, strlen(chain)));
	CHECK_INT(st.status, ==, AT_OCSP_GOOD);
	CHECK(st.next_update - st.this_update == 3610);
	OPENSSL_free(der);

	der = respond(&n, leaf, V_OCSP_CERTSTATUS_REVOKED, ca, ca_key, -10, 3600);
	CHECK_OK(at_ocsp_check(&st, der, n, chain, strlen(chain)));
	CHECK_INT(st.status, ==, AT_OCSP_REVOKED);
	CHECK_INT(st.reason, ==, 1);
	CHECK(st.revoked_at > 0);
	OPENSSL_free(der);

	/* A responder the CA delegated to (id-kp-OCSPSigning), its certificate in the response. */
	der = respond(&n, leaf, V_OCSP_CERTSTATUS_GOOD, signer, signer_key, -10, 3600);
	CHECK_OK(at_ocsp_check(&st, der, n, chain, strlen(chain)));
	OPENSSL_free(der);

	/* Another certificate of the CA that was not made a responder (no OCSPSigning): refused. */
	der = respond(&n, leaf, V_OCSP_CERTSTATUS_GOOD, other, other_key, -10, 3600);
	CHECK_INT(at_ocsp_check(&st, der, n, chain, strlen(chain)), ==, AT_E_CHAIN);
	OPENSSL_free(der);

	/* Signed by a stranger: refused. */
	der = respond(&n, leaf, V_OCSP_CERTSTATUS_GOOD, stranger, stranger_key, -10, 3600);
	CHECK_INT(at_ocsp_check(&st, der, n, chain, strlen(chain)), ==, AT_E_CHAIN);
	OPENSSL_free(der);

	/* About another certificate of the same CA: no answer for ours. */
	der = respond(&n, other, V_OCSP_CERTSTATUS_GOOD, ca, ca_key, -10, 3600);
	CHECK_INT(at_ocsp_check(&st, der, n, chain, strlen(chain)), ==, AT_E_NOTFOUND);
	OPENSSL_free(der);

	/* Past its nextUpdate (beyond the five minutes of skew). */
	der = respond(&n, leaf, V_OCSP_CERTSTATUS_GOOD, ca, ca_key, -7200, -3600);
	CHECK_INT(at_ocsp_check(&st, der, n, chain, strlen(chain)), ==, AT_E_EXPIRED);
	OPENSSL_free(der);

	/* Not a response, a truncated one, and a leaf without its issuer. */
	static const unsigned char junk[] = { 0x30, 0x03, 0x0a, 0x01, 0x01 }; /* malformedRequest */
	CHECK_INT(at_ocsp_check(&st, junk, sizeof(junk), chain, strlen(chain)), ==, AT_E_PARSE);
	der = respond(&n, leaf, V_OCSP_CERTSTATUS_GOOD, ca, ca_key, -10, 3600);
	CHECK_INT(at_ocsp_check(&st, der, n - 1, chain, strlen(chain)), ==, AT_E_PARSE);
	char *alone = harness_cert_pem(leaf, NULL);
	CHECK_INT(at_ocsp_check(&st, der, n, alone, strlen(alone)), ==, AT_E_CHAIN);
	free(alone);
	OPENSSL_free(der);
}

struct canned {
	unsigned char *der;
	size_t len;
	long status;
	int requests;
	int request_ok;
};

static int canned_perform(void *ctx, const struct at_http_request *req, struct at_http_response *resp)
{
	struct canned *c = ctx;
	c->requests++;
	const unsigned char *p = (const unsigned char *)req->body;
	OCSP_REQUEST *r = d2i_OCSP_REQUEST(NULL, &p, (long)req->body_len);
	c->request_ok = r != NULL && strcmp(req->method, "POST") == 0 &&
			strcmp(req->content_type, "application/ocsp-request") == 0 && OCSP_request_onereq_count(r) == 1;
	OCSP_REQUEST_free(r);
	memset(resp, 0, sizeof(*resp));
	resp->status = c->status;
	resp->body = malloc(c->len + 1);
	if (resp->body == NULL)
		return AT_E_NOMEM;
	memcpy(resp->body, c->der, c->len);
	resp->body[c->len] = '\0';
	resp->body_len = c->len;
	return 0;
}

static void fetch_over_the_seam(void)
{
	struct canned c = { 0 };
	struct at_http_ops ops = { .perform = canned_perform, .ctx = &c };
	struct at_ocsp_status st;
	unsigned char *der = NULL;
	size_t len = 0;
	c.der = respond(&c.len, leaf, V_OCSP_CERTSTATUS_GOOD, ca, ca_key, -10, 600);
	c.status = 200;
	CHECK_OK(at_ocsp_fetch(&der, &len, &st, &ops, "http://127.0.0.1:9/ocsp", chain, strlen(chain), 1000));
	CHECK_INT(c.requests, ==, 1);
	CHECK_INT(c.request_ok, ==, 1);
	CHECK(len == c.len && memcmp(der, c.der, len) == 0);
	CHECK_INT(st.status, ==, AT_OCSP_GOOD);
	free(der);
	c.status = 503;
	CHECK_INT(at_ocsp_fetch(&der, &len, &st, &ops, "http://127.0.0.1:9/ocsp", chain, strlen(chain), 1000), ==,
		  AT_E_HTTP);
	OPENSSL_free(c.der);
}

int main(void)
{
	setup();
	RUN(url_from_aia);
	RUN(must_staple_from_tls_feature);
	RUN(responses_checked_against_the_issuer);
	RUN(fetch_over_the_seam);
	X509_free(ca);
	X509_free(leaf);
	X509_free(other);
	X509_free(stranger);
	X509_free(signer);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(stranger_key);
	EVP_PKEY_free(signer_key);
	free(chain);
	return TEST_EXIT();
}
