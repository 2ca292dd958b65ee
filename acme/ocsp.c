/* OCSP for stapling (see ocsp.h). */
#include "acme/ocsp.h"
#include "util/x509.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SKEW_S 300 /* RFC 6960 leaves the tolerance to the client; OpenSSL's own tools use five minutes */

/* The leaf and its issuer (the chain's second certificate), from chain_pem; *sk owns both. */
static int leaf_and_issuer(STACK_OF(X509) **sk, X509 **leaf, X509 **issuer, const char *pem, size_t len)
{
	int rc = at_chain_parse(sk, pem, len);
	if (rc != 0)
		return rc == AT_E_NOMEM ? rc : AT_E_PARSE;
	*leaf = sk_X509_value(*sk, 0);
	*issuer = sk_X509_num(*sk) > 1 ? sk_X509_value(*sk, 1) : NULL;
	return 0;
}

/* RFC 7633 section 4: the TLS Feature extension lists TLS extension numbers; status_request is 5 (RFC 6066
 * section 8). */
static int leaf_must_staple(X509 *leaf)
{
	int crit = 0, yes = 0;
	TLS_FEATURE *f = X509_get_ext_d2i(leaf, NID_tlsfeature, &crit, NULL);
	for (int i = 0; f != NULL && i < sk_ASN1_INTEGER_num(f); i++)
		if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(f, i)) == 5)
			yes = 1;
	sk_ASN1_INTEGER_pop_free(f, ASN1_INTEGER_free);
	ERR_clear_error();
	return yes;
}

int at_ocsp_leaf_info(char **url, int *must_staple, const char *chain_pem, size_t chain_len)
{
	STACK_OF(X509) *sk = NULL;
	X509 *leaf, *issuer;
	*must_staple = 0;
	int rc = leaf_and_issuer(&sk, &leaf, &issuer, chain_pem, chain_len);
	if (rc != 0)
		return rc;
	*must_staple = leaf_must_staple(leaf);
	STACK_OF(OPENSSL_STRING) *urls = X509_get1_ocsp(leaf);
	rc = AT_E_NOTFOUND;
	for (int i = 0; i < sk_OPENSSL_STRING_num(urls); i++) {
		const char *u = sk_OPENSSL_STRING_value(urls, i);
		if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
			continue;
		*url = strdup(u);
		rc = *url ? 0 : AT_E_NOMEM;
		break;
	}
	X509_email_free(urls); /* X509_get1_ocsp's stack is freed this way (OpenSSL's documented pair) */
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

int at_ocsp_url(char **out, const char *chain_pem, size_t chain_len)
{
	int must_staple;
	return at_ocsp_leaf_info(out, &must_staple, chain_pem, chain_len);
}

int at_ocsp_worth_a_look(const char *chain_pem, size_t chain_len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
	/* DER of the OIDs id-ad-ocsp (1.3.6.1.5.5.7.48.1, RFC 5280 4.2.2.1) and id-pe-tlsfeature
	 * (1.3.6.1.5.5.7.1.24, RFC 7633 section 6), tag and length included. */
	static const unsigned char ad_ocsp[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01 };
	static const unsigned char tlsfeature[] = { 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x18 };
	const char *b = memmem(chain_pem, chain_len, begin, sizeof(begin) - 1);
	if (b == NULL)
		return 1; /* cannot tell here: the full look decides */
	b += sizeof(begin) - 1;
	const char *e = memmem(b, chain_len - (size_t)(b - chain_pem), end, sizeof(end) - 1);
	if (e == NULL || e - b > 1 << 20)
		return 1;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *der = malloc((size_t)(e - b) * 3 / 4 + 16);
	int n1 = 0, n2 = 0, yes = 1;
	if (ctx != NULL && der != NULL) {
		EVP_DecodeInit(ctx);
		if (EVP_DecodeUpdate(ctx, der, &n1, (const unsigned char *)b, (int)(e - b)) >= 0 &&
		    EVP_DecodeFinal(ctx, der + n1, &n2) >= 0)
			yes = memmem(der, (size_t)(n1 + n2), ad_ocsp, sizeof(ad_ocsp)) != NULL ||
			      memmem(der, (size_t)(n1 + n2), tlsfeature, sizeof(tlsfeature)) != NULL;
	}
	EVP_ENCODE_CTX_free(ctx);
	free(der);
	return yes;
}

int at_ocsp_must_staple(int *out, const char *chain_pem, size_t chain_len)
{
	char *url = NULL;
	int rc = at_ocsp_leaf_info(&url, out, chain_pem, chain_len);
	free(url);
	return rc == AT_E_NOTFOUND ? 0 : rc;
}

static time_t gt_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	return timegm(&tm);
}

static int check(struct at_ocsp_status *st, OCSP_RESPONSE *resp, X509 *leaf, X509 *issuer)
{
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	X509_STORE *store = NULL;
	STACK_OF(X509) *others = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
	int status = -1, reason = -1, rc = AT_E_PARSE;

	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL || (bs = OCSP_response_get1_basic(resp)) == NULL)
		goto out;
	rc = AT_E_CHAIN;
	if (issuer == NULL)
		goto out;
	/* The issuer is the only anchor (RFC 6960 4.2.2.2): the response is signed by it or by a responder it
	 * certified for OCSP signing. PARTIAL_CHAIN: the issuer is an intermediate, not a root. */
	rc = AT_E_NOMEM;
	if ((store = X509_STORE_new()) == NULL || (others = sk_X509_new_null()) == NULL ||
	    !X509_STORE_add_cert(store, issuer) || !sk_X509_push(others, issuer))
		goto out;
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	rc = AT_E_CHAIN;
	if (OCSP_basic_verify(bs, others, store, 0) <= 0)
		goto out;
	rc = AT_E_NOMEM;
	if ((id = OCSP_cert_to_id(EVP_sha1(), leaf, issuer)) == NULL)
		goto out;
	rc = AT_E_NOTFOUND;
	if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisupd, &nextupd))
		goto out;
	rc = AT_E_EXPIRED;
	if (!OCSP_check_validity(thisupd, nextupd, SKEW_S, -1))
		goto out;
	st->status = status == V_OCSP_CERTSTATUS_GOOD ? AT_OCSP_GOOD
		   : status == V_OCSP_CERTSTATUS_REVOKED ? AT_OCSP_REVOKED : AT_OCSP_UNKNOWN;
	st->this_update = gt_time(thisupd);
	st->next_update = gt_time(nextupd);
	st->revoked_at = status == V_OCSP_CERTSTATUS_REVOKED ? gt_time(rev) : 0;
	st->reason = status == V_OCSP_CERTSTATUS_REVOKED ? reason : -1;
	rc = 0;
out:
	OCSP_CERTID_free(id);
	sk_X509_free(others); /* the issuer belongs to the caller's chain */
	X509_STORE_free(store);
	OCSP_BASICRESP_free(bs);
	ERR_clear_error();
	return rc;
}

int at_ocsp_check(struct at_ocsp_status *st, const unsigned char *der, size_t len, const char *chain_pem,
		  size_t chain_len)
{
	STACK_OF(X509) *sk = NULL;
	X509 *leaf, *issuer;
	if (der == NULL || len == 0 || len > AT_OCSP_MAX_BODY)
		return AT_E_PARSE;
	int rc = leaf_and_issuer(&sk, &leaf, &issuer, chain_pem, chain_len);
	if (rc != 0)
		return rc;
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	if (resp == NULL || p != der + len) {
		rc = AT_E_PARSE;
	} else {
		struct at_ocsp_status tmp;
		rc = check(&tmp, resp, leaf, issuer);
		if (rc == 0)
			*st = tmp;
	}
	OCSP_RESPONSE_free(resp);
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	return rc;
}

/* The DER of a request for leaf (SHA-1 CertID, as RFC 5019 section 2.1.1 asks of clients). */
static int request_der(unsigned char **out, int *len, X509 *leaf, X509 *issuer)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_CERTID *id = req ? OCSP_cert_to_id(EVP_sha1(), leaf, issuer) : NULL;
	int rc = AT_E_NOMEM;
	if (id == NULL || OCSP_request_add0_id(req, id) == NULL) {
		OCSP_CERTID_free(id);
		goto out;
	}
	*out = NULL;
	if ((*len = i2d_OCSP_REQUEST(req, out)) > 0)
		rc = 0;
out:
	OCSP_REQUEST_free(req);
	return rc;
}

int at_ocsp_fetch(unsigned char **der, size_t *len, struct at_ocsp_status *st, const struct at_http_ops *http,
		  const char *url, const char *chain_pem, size_t chain_len, long timeout_ms)
{
	STACK_OF(X509) *sk = NULL;
	X509 *leaf, *issuer;
	unsigned char *req = NULL, *body = NULL;
	int req_len = 0;
	struct at_http_response resp;
	memset(&resp, 0, sizeof(resp));
	int rc = leaf_and_issuer(&sk, &leaf, &issuer, chain_pem, chain_len);
	if (rc != 0)
		return rc;
	if (issuer == NULL) {
		rc = AT_E_CHAIN;
		goto out;
	}
	if ((rc = request_der(&req, &req_len, leaf, issuer)) != 0)
		goto out;
	struct at_http_request r = {
		.method = "POST",
		.url = url,
		.content_type = "application/ocsp-request",
		.body = (const char *)req,
		.body_len = (size_t)req_len,
		.timeout_ms = timeout_ms,
		.max_body = AT_OCSP_MAX_BODY,
	};
	if ((rc = http->perform(http->ctx, &r, &resp)) != 0)
		goto out;
	if (resp.status != 200 || resp.body == NULL || resp.body_len == 0) {
		rc = AT_E_HTTP;
		goto out;
	}
	struct at_ocsp_status tmp;
	if ((rc = at_ocsp_check(&tmp, (const unsigned char *)resp.body, resp.body_len, chain_pem, chain_len)) != 0)
		goto out;
	if ((body = malloc(resp.body_len)) == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	memcpy(body, resp.body, resp.body_len);
	*der = body;
	*len = resp.body_len;
	*st = tmp;
out:
	OPENSSL_free(req);
	at_http_response_clear(&resp);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}
