/* The directory (RFC 8555 section 7.1.1), fetched once per client; later requests use its URLs. */
#include "acme/client.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

static int url_ok(const char *u)
{
	return u && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0);
}

int acme_directory_load(struct at_acme *c)
{
	struct at_http_response resp;
	cJSON *dir = NULL;
	int rc;

	if (c->dir)
		return 0;
	rc = acme_get(c, c->directory_url, &resp);
	if (rc != 0)
		return rc;
	rc = acme_json_body(&dir, &resp);
	at_http_response_clear(&resp);
	if (rc != 0) {
		at_log_error("ACME directory %s: not a JSON object", c->directory_url);
		return rc;
	}
	const char *nn = acme_json_str(dir, "newNonce");
	const char *na = acme_json_str(dir, "newAccount");
	const char *no = acme_json_str(dir, "newOrder");
	if (!url_ok(nn) || !url_ok(na) || !url_ok(no)) {
		at_log_error("ACME directory %s: newNonce, newAccount or newOrder missing", c->directory_url);
		cJSON_Delete(dir);
		return AT_E_PARSE;
	}
	c->dir = dir;
	c->url_new_nonce = nn;
	c->url_new_account = na;
	c->url_new_order = no;
	c->url_revoke_cert = url_ok(acme_json_str(dir, "revokeCert")) ? acme_json_str(dir, "revokeCert") : NULL;
	c->url_renewal_info = url_ok(acme_json_str(dir, "renewalInfo")) ? acme_json_str(dir, "renewalInfo") : NULL;

	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(dir, "meta");
	c->tos = acme_json_str(meta, "termsOfService");
	c->website = acme_json_str(meta, "website");
	c->eab_required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "externalAccountRequired"));
	/* draft-ietf-acme-profiles: meta.profiles is an object whose member names are the profile names. */
	const cJSON *profiles = cJSON_GetObjectItemCaseSensitive(meta, "profiles");
	if (cJSON_IsObject(profiles)) {
		int n = cJSON_GetArraySize(profiles);
		if (n > 0 && n <= 64) {
			c->profiles = calloc((size_t)n, sizeof(*c->profiles));
			if (c->profiles == NULL)
				return AT_E_NOMEM;
			const cJSON *p;
			cJSON_ArrayForEach(p, profiles)
				if (p->string)
					c->profiles[c->nprofiles++] = p->string;
		}
	}
	return 0;
}

int at_acme_directory(struct at_acme *c, struct at_acme_directory_info *out)
{
	int rc = acme_directory_load(c);
	if (rc != 0)
		return rc;
	out->terms_of_service = c->tos;
	out->website = c->website;
	out->renewal_info = c->url_renewal_info;
	out->eab_required = c->eab_required;
	out->profiles = c->profiles;
	out->nprofiles = c->nprofiles;
	return 0;
}
