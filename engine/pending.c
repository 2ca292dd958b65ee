/* The pending order of a name set (see struct engine_pending in engine/internal.h). */
#include "engine/internal.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_MAX (64 * 1024)

static int pending_key(char *out, size_t size, struct at_engine *e, const char *comp)
{
	return at_store_key(out, size, "orders", e->ca, comp, "pending", (char *)NULL);
}

void engine_pending_clear(struct engine_pending *p)
{
	free(p->url);
	free(p->account);
	for (size_t i = 0; i < p->nnames; i++)
		free(p->names[i]);
	free(p->names);
	at_secret_free(p->key_pem, p->key_len);
	memset(p, 0, sizeof(*p));
}

/* Frees a record's JSON tree (NULL is fine), cleansing the certificate key's text it holds first. */
static void delete_cleansed(cJSON *j)
{
	cJSON *k = j ? cJSON_GetObjectItemCaseSensitive(j, "key") : NULL;
	if (cJSON_IsString(k))
		OPENSSL_cleanse(k->valuestring, strlen(k->valuestring));
	cJSON_Delete(j);
}

int engine_pending_load(struct at_engine *e, const char *comp, struct engine_pending *out)
{
	char key[1024];
	char *val = NULL;
	size_t len = 0;
	struct engine_pending p;
	int rc = pending_key(key, sizeof(key), e, comp);
	if (rc != 0)
		return rc;
	rc = at_store_load(e->cfg.store, key, &val, &len);
	if (rc != 0)
		return rc;
	memset(&p, 0, sizeof(p));
	cJSON *j = len <= PENDING_MAX ? cJSON_ParseWithLength(val, len) : NULL;
	at_secret_free(val, len);
	rc = AT_E_PARSE;
	const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "url"));
	const char *acct = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "account"));
	const char *kp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "key"));
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "names");
	int n = cJSON_GetArraySize(names);
	if (url == NULL || acct == NULL || kp == NULL || !cJSON_IsArray(names) || n <= 0 || n > 100)
		goto out;
	rc = AT_E_NOMEM;
	p.url = strdup(url);
	p.account = strdup(acct);
	p.key_len = strlen(kp);
	p.key_pem = strdup(kp);
	p.names = calloc((size_t)n, sizeof(*p.names));
	if (p.url == NULL || p.account == NULL || p.key_pem == NULL || p.names == NULL)
		goto out;
	const cJSON *nm;
	cJSON_ArrayForEach(nm, names)
	{
		if (!cJSON_IsString(nm)) {
			rc = AT_E_PARSE;
			goto out;
		}
		if ((p.names[p.nnames] = strdup(nm->valuestring)) == NULL)
			goto out;
		p.nnames++;
	}
	*out = p;
	memset(&p, 0, sizeof(p));
	rc = 0;
out:
	engine_pending_clear(&p);
	delete_cleansed(j);
	return rc;
}

int engine_pending_save(struct at_engine *e, const char *comp, const struct engine_pending *p)
{
	char key[1024];
	int rc = pending_key(key, sizeof(key), e, comp);
	if (rc != 0)
		return rc;
	cJSON *j = cJSON_CreateObject();
	cJSON *names = cJSON_AddArrayToObject(j, "names");
	rc = AT_E_NOMEM;
	if (j == NULL || names == NULL || !cJSON_AddNumberToObject(j, "v", 1) ||
	    !cJSON_AddStringToObject(j, "url", p->url) || !cJSON_AddStringToObject(j, "account", p->account) ||
	    !cJSON_AddStringToObject(j, "key", p->key_pem))
		goto out;
	for (size_t i = 0; i < p->nnames; i++)
		if (!cJSON_AddItemToArray(names, cJSON_CreateString(p->names[i])))
			goto out;
	char *text = cJSON_PrintUnformatted(j);
	if (text == NULL)
		goto out;
	rc = at_store_put(e->cfg.store, key, text, strlen(text));
	at_secret_free(text, strlen(text));
out:
	delete_cleansed(j);
	return rc;
}

int engine_pending_drop(struct at_engine *e, const char *comp)
{
	char key[1024];
	int rc = pending_key(key, sizeof(key), e, comp);
	return rc != 0 ? rc : at_store_del(e->cfg.store, key);
}

int engine_pending_matches(const struct engine_pending *p, const char *const *names, size_t n, const char *account)
{
	if (p->nnames != n || account == NULL || strcmp(p->account, account) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < n && strcmp(p->names[j], names[i]) != 0)
			j++;
		if (j == n)
			return 0;
	}
	return 1;
}

int engine_order_resumable(int rc)
{
	switch (rc) {
	case AT_E_NET:
	case AT_E_TIMEOUT:
	case AT_E_HTTP:        /* a CA answering 5xx without a problem document */
	case AT_E_RATELIMITED:
	case AT_E_BADNONCE:
	case AT_E_NOMEM:
	case AT_E_NO_ACCOUNT:  /* the account is registered again and the order looked up with it */
		return 1;
	default:
		/* The store refused the certificate: the order is valid, download it again next time. */
		return at_err_band(rc) == AT_BAND_STORE;
	}
}
