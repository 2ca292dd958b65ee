/* Accounts (RFC 8555 section 7.3): create or find, contact, terms, External Account Binding (7.3.4). */
#include "acme/client.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int build_payload(char **out, struct at_acme *c, const struct at_jws_key *key,
			 const struct at_acme_account_opts *o)
{
	cJSON *p = cJSON_CreateObject();
	int rc = AT_E_NOMEM;
	if (p == NULL)
		return AT_E_NOMEM;
	if (o->only_existing) {
		/* Section 7.3.1: only this member; the server answers with the account or accountDoesNotExist. */
		if (!cJSON_AddTrueToObject(p, "onlyReturnExisting"))
			goto out;
	} else {
		if (o->email && *o->email) {
			char mailto[320];
			if (strchr(o->email, ',') || strchr(o->email, ' ') || strlen(o->email) > 300) {
				rc = AT_E_INVAL;
				goto out;
			}
			snprintf(mailto, sizeof(mailto), "mailto:%s", o->email);
			cJSON *contact = cJSON_AddArrayToObject(p, "contact");
			if (contact == NULL || !cJSON_AddItemToArray(contact, cJSON_CreateString(mailto)))
				goto out;
		}
		if (o->agree_tos && !cJSON_AddTrueToObject(p, "termsOfServiceAgreed"))
			goto out;
		if (o->eab_kid && o->eab_hmac_key) {
			cJSON *eab = NULL;
			rc = at_jws_eab(&eab, o->eab_kid, o->eab_hmac_key, key, c->url_new_account);
			if (rc != 0)
				goto out;
			cJSON_AddItemToObject(p, "externalAccountBinding", eab);
			rc = AT_E_NOMEM;
		}
	}
	*out = cJSON_PrintUnformatted(p);
	rc = *out ? 0 : AT_E_NOMEM;
out:
	cJSON_Delete(p);
	return rc;
}

int at_acme_account(struct at_acme *c, const struct at_jws_key *key, const struct at_acme_account_opts *opts,
		    char **account_url)
{
	struct at_acme_account_opts none = { 0 };
	struct at_http_response resp;
	char *payload = NULL;
	int rc;

	if (opts == NULL)
		opts = &none;
	if ((opts->eab_kid == NULL) != (opts->eab_hmac_key == NULL))
		return AT_E_INVAL;
	rc = acme_directory_load(c);
	if (rc != 0)
		return rc;
	if (c->eab_required && opts->eab_kid == NULL && !opts->only_existing)
		at_log_warn("ACME CA %s requires External Account Binding and none is configured", c->directory_url);
	rc = build_payload(&payload, c, key, opts);
	if (rc != 0)
		return rc;
	c->key = key;
	rc = acme_post(c, c->url_new_account, payload, 1, NULL, &resp);
	free(payload);
	if (rc != 0)
		return rc;
	/* 201 for a new account, 200 for an existing one; the account URL is the Location (section 7.3). */
	if (resp.location == NULL) {
		at_log_error("ACME newAccount: no Location in the response");
		at_http_response_clear(&resp);
		return AT_E_PARSE;
	}
	char *kid = strdup(resp.location);
	char *copy = account_url ? strdup(resp.location) : NULL;
	at_log_info("ACME account %s (%s)", resp.location, resp.status == 201 ? "created" : "existing");
	at_http_response_clear(&resp);
	if (kid == NULL || (account_url && copy == NULL)) {
		free(kid);
		free(copy);
		return AT_E_NOMEM;
	}
	free(c->kid);
	c->kid = kid;
	if (account_url)
		*account_url = copy;
	return 0;
}
