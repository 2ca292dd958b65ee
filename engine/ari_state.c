/*
 * The ARI plan kept in the store, so that a restart follows what the CA last said instead of asking again at
 * once (RFC 9773 section 4.3: not before the Retry-After) or falling back to the lifetime rule while the CA has
 * put the renewal later. Key: ari/<ca>/<first-name>/state, one small JSON value:
 *   {"v":1,"cert_id":"<the ARI certID it is for>","renew_at":N,"recheck_at":N,"from_ari":0|1}
 * Written by at_engine_renewal_plan after each answer of the CA; read there and by at_engine_ari_apply. A value
 * for another certificate (renewed since) or one that does not parse is ignored: it can only make us ask the
 * CA, never skip a renewal the lifetime rule wants (renew_at is kept inside the certificate's lifetime).
 * Never holds secrets. No lock: the leader writes it, and two hosts writing the same advice is harmless. An
 * engine with ari_read_only (the autotls command) reads it and never writes it.
 */
#include "engine/internal.h"
#include "store/name.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARI_STATE_MAX 2048

static int state_key(char *out, size_t size, const struct at_engine *e, const char *name)
{
	char comp[AT_NAME_MAX + 1];
	int rc = at_name_to_component(comp, name);
	return rc != 0 ? rc : at_store_key(out, size, "ari", e->ca, comp, "state", (char *)NULL);
}

static long long num(const cJSON *j, const char *member)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, member);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

int engine_ari_load(struct at_engine *e, const struct at_cert_record *rec, const char *cert_id,
		    struct engine_ari_plan *out)
{
	char key[1024], *val = NULL;
	size_t len = 0;
	if (e->cfg.store == NULL || rec->names == NULL || rec->nnames == 0)
		return AT_E_NOTFOUND;
	int rc = state_key(key, sizeof(key), e, rec->names[0]);
	if (rc == 0)
		rc = at_store_load(e->cfg.store, key, &val, &len);
	if (rc != 0)
		return rc;
	cJSON *j = len <= ARI_STATE_MAX ? cJSON_ParseWithLength(val, len) : NULL;
	at_secret_free(val, len);
	const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "cert_id"));
	rc = AT_E_NOTFOUND;
	if (id != NULL && strcmp(id, cert_id) == 0) {
		out->renew_at = (time_t)num(j, "renew_at");
		out->recheck_at = (time_t)num(j, "recheck_at");
		out->from_ari = num(j, "from_ari") != 0;
		/* Inside the certificate's life, or not at all: a value from a wrong clock must not hold a renewal. */
		if (out->renew_at > rec->info.not_before && out->renew_at < rec->info.not_after &&
		    out->recheck_at > 0 && out->recheck_at <= out->renew_at)
			rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

void engine_ari_save(struct at_engine *e, const struct at_cert_record *rec, const char *cert_id,
		     const struct engine_ari_plan *p)
{
	char key[1024];
	if (e->cfg.store == NULL || e->cfg.ari_read_only || rec->names == NULL || rec->nnames == 0 ||
	    state_key(key, sizeof(key), e, rec->names[0]) != 0)
		return;
	cJSON *j = cJSON_CreateObject();
	char *text = NULL;
	if (j != NULL && cJSON_AddNumberToObject(j, "v", 1) && cJSON_AddStringToObject(j, "cert_id", cert_id) &&
	    cJSON_AddNumberToObject(j, "renew_at", (double)p->renew_at) &&
	    cJSON_AddNumberToObject(j, "recheck_at", (double)p->recheck_at) &&
	    cJSON_AddNumberToObject(j, "from_ari", p->from_ari))
		text = cJSON_PrintUnformatted(j);
	int rc = text ? at_store_put(e->cfg.store, key, text, strlen(text)) : AT_E_NOMEM;
	if (rc != 0)
		at_log_warn("could not keep the CA's renewal window for %s in the store (%s); a restart asks it again",
			    rec->names[0], at_strerror(rc));
	free(text);
	cJSON_Delete(j);
}

void at_engine_ari_apply(struct at_engine *e, struct at_cert_record *rec)
{
	struct engine_ari_plan p;
	char *id = NULL;
	if (rec->chain_pem == NULL || at_ari_cert_id(&id, rec->chain_pem, rec->chain_len) != 0)
		return;
	if (engine_ari_load(e, rec, id, &p) == 0)
		rec->renew_after = (long long)p.renew_at;
	free(id);
}
