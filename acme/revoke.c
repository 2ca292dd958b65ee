/* Revocation (RFC 8555 section 7.6), signed with the account key that ordered the certificate. */
#include "acme/client.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/x509.h"

#include <openssl/x509.h>
#include <stdlib.h>

int at_acme_revoke(struct at_acme *c, const char *cert_pem, size_t len, int reason)
{
	STACK_OF(X509) *chain = NULL;
	unsigned char *der = NULL;
	char *der_b64 = NULL, *payload = NULL;
	cJSON *p = NULL;
	struct at_http_response resp;
	int rc = acme_directory_load(c);

	if (rc != 0)
		return rc;
	if (c->url_revoke_cert == NULL)
		return AT_E_UNSUPPORTED;
	rc = at_chain_parse(&chain, cert_pem, len);
	if (rc != 0)
		return rc;
	int dlen = i2d_X509(sk_X509_value(chain, 0), &der);
	rc = AT_E_CRYPTO;
	if (dlen <= 0)
		goto out;
	rc = at_b64url_encode(&der_b64, der, (size_t)dlen);
	if (rc != 0)
		goto out;
	rc = AT_E_NOMEM;
	p = cJSON_CreateObject();
	if (p == NULL || !cJSON_AddStringToObject(p, "certificate", der_b64))
		goto out;
	if (reason >= 0 && !cJSON_AddNumberToObject(p, "reason", reason))
		goto out;
	payload = cJSON_PrintUnformatted(p);
	if (payload == NULL)
		goto out;
	rc = acme_post(c, c->url_revoke_cert, payload, 0, NULL, &resp);
	if (rc == 0) {
		at_log_info("ACME certificate revoked");
		at_http_response_clear(&resp);
	}
out:
	cJSON_Delete(p);
	free(payload);
	free(der_b64);
	OPENSSL_free(der);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}
