/* ACME Renewal Information (RFC 9773): the certificate identifier, the renewalInfo request, the window. */
#include "acme/client.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/x509.h"

#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int at_ari_cert_id(char **out, const char *leaf_pem, size_t len)
{
	STACK_OF(X509) *chain = NULL;
	unsigned char *serial_der = NULL;
	char *aki_b64 = NULL, *serial_b64 = NULL;
	int rc = at_chain_parse(&chain, leaf_pem, len);
	if (rc != 0)
		return rc;
	X509 *leaf = sk_X509_value(chain, 0);
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
	rc = AT_E_PARSE;
	if (aki == NULL || ASN1_STRING_length(aki) <= 0)
		goto out;
	/* Section 4.1: the serial's DER encoding without tag and length, i.e. the INTEGER's content octets
	 * (a leading 0x00 included when DER needs one). */
	int dlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(leaf), &serial_der);
	if (dlen < 3 || serial_der[0] != 0x02)
		goto out;
	size_t hdr = 2;
	if (serial_der[1] & 0x80)
		hdr += serial_der[1] & 0x7f;
	if ((size_t)dlen <= hdr)
		goto out;
	rc = at_b64url_encode(&aki_b64, ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki));
	if (rc != 0)
		goto out;
	rc = at_b64url_encode(&serial_b64, serial_der + hdr, (size_t)dlen - hdr);
	if (rc != 0)
		goto out;
	size_t n = strlen(aki_b64) + strlen(serial_b64) + 2;
	char *id = malloc(n);
	rc = AT_E_NOMEM;
	if (id == NULL)
		goto out;
	snprintf(id, n, "%s.%s", aki_b64, serial_b64);
	*out = id;
	rc = 0;
out:
	free(aki_b64);
	free(serial_b64);
	OPENSSL_free(serial_der);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

void at_ari_window_clear(struct at_ari_window *w)
{
	free(w->explanation_url);
	memset(w, 0, sizeof(*w));
	w->retry_after = -1;
}

int at_ari_parse(struct at_ari_window *w, const char *json, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	int rc = AT_E_PARSE;
	time_t start, end;

	if (!cJSON_IsObject(root))
		goto out;
	const cJSON *win = cJSON_GetObjectItemCaseSensitive(root, "suggestedWindow");
	if (!cJSON_IsObject(win))
		goto out;
	if (acme_parse_time(&start, acme_json_str(win, "start")) != 0 ||
	    acme_parse_time(&end, acme_json_str(win, "end")) != 0)
		goto out;
	/* Section 4.2: a window whose end is not after its start is invalid and must be ignored. */
	if (end <= start)
		goto out;
	at_ari_window_clear(w);
	w->start = start;
	w->end = end;
	const char *expl = acme_json_str(root, "explanationURL");
	if (expl && strlen(expl) < 2048)
		w->explanation_url = strdup(expl);
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

time_t at_ari_pick(const struct at_ari_window *w, unsigned rnd)
{
	unsigned long long span = (unsigned long long)(w->end - w->start);
	if (w->end <= w->start)
		return w->start;
	return w->start + (time_t)((unsigned long long)rnd % (span + 1));
}

int at_acme_renewal_info(struct at_acme *c, const char *cert_id, struct at_ari_window *out)
{
	struct at_http_response resp;
	int rc = acme_directory_load(c);
	if (rc != 0)
		return rc;
	if (c->url_renewal_info == NULL)
		return AT_E_UNSUPPORTED;
	size_t base = strlen(c->url_renewal_info);
	size_t n = base + strlen(cert_id) + 2;
	char *url = malloc(n);
	if (url == NULL)
		return AT_E_NOMEM;
	/* Section 4.1: the renewalInfo URL, a slash, and the certID. */
	snprintf(url, n, "%s%s%s", c->url_renewal_info, base && c->url_renewal_info[base - 1] == '/' ? "" : "/",
		 cert_id);
	rc = acme_get(c, url, &resp);
	free(url);
	if (rc != 0)
		return rc;
	struct at_ari_window w;
	memset(&w, 0, sizeof(w));
	w.retry_after = -1;
	rc = resp.body ? at_ari_parse(&w, resp.body, resp.body_len) : AT_E_PARSE;
	if (rc == 0) {
		long ra;
		if (resp.retry_after && at_http_retry_after(&ra, resp.retry_after, (long)time(NULL)) == 0)
			w.retry_after = ra;
		*out = w;
	} else {
		at_log_warn("ACME renewalInfo: malformed response");
	}
	at_http_response_clear(&resp);
	return rc;
}
