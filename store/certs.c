/*
 * Certificate records (see store/certs.h). A record is one store value:
 *
 *   {"v":1,"names":[...],"ari_cert_id":"..."|null,"renew_after":N,"key_len":K,"chain_len":C}\n
 *   <K bytes of private key PEM><C bytes of chain PEM, leaf first>
 *
 * One value, so the store's atomic replace makes key and chain change together; the lengths in the header make
 * the split exact (no guessing where a PEM ends) and let a reader notice a record that is not whole. Saving
 * stages the record, reads it back, checks exactly those bytes (they parse, the key matches the leaf, the names
 * are covered) and only then writes them live. Callers serialise saves of one name with a store lock (the
 * staging key is per name).
 */
#include "store/certs.h"
#include "store/keypath.h"
#include "store/name.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

#include <cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_VERSION 1
#define HEADER_MAX (64 * 1024)
#define NAMES_MAX 100
#define RECORD_MAX (2 * 1024 * 1024 + HEADER_MAX)

static void secret_free(char *p, size_t n)
{
	if (p != NULL)
		OPENSSL_cleanse(p, n);
	free(p);
}

int at_store_ca_component(char *out, size_t size, const char *directory_url)
{
	const char *p;
	size_t o = 0;

	if (out == NULL || directory_url == NULL)
		return AT_E_INVAL;
	p = strstr(directory_url, "://");
	if (p == NULL)
		return AT_E_INVAL;
	p += 3;
	for (; *p != '\0'; p++) {
		char c = *p;
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			c = '-';
		if (o == 0 && c == '.')
			c = '-'; /* a component never starts with '.' */
		if (o + 1 >= size || o >= AT_STORE_COMPONENT_MAX)
			return AT_E_RANGE;
		out[o++] = c;
	}
	while (o > 0 && out[o - 1] == '-')
		o--; /* "host/directory/" and "host/directory" are one CA */
	if (o == 0)
		return AT_E_INVAL;
	out[o] = '\0';
	return 0;
}

static int name_is_normal(const char *name)
{
	char n[AT_NAME_MAX + 1];

	return name != NULL && at_name_normalize(n, name, strlen(name)) == 0 && strcmp(n, name) == 0;
}

static int record_key(char *out, size_t size, const char *area, const char *ca, const char *name)
{
	char comp[AT_NAME_MAX + 1];
	int rc = at_name_to_component(comp, name);

	if (rc != 0)
		return rc;
	return at_store_key(out, size, area, ca, comp, "record", NULL);
}

/* The record as bytes; *out is secret (it holds the key), free with secret_free(*out, *len). */
static int record_serialize(char **out, size_t *len, const struct at_cert_record *rec)
{
	struct at_buf b;
	cJSON *j = cJSON_CreateObject();
	cJSON *names = NULL;
	char *hdr = NULL;
	int rc = AT_E_NOMEM;

	at_buf_init(&b, RECORD_MAX);
	if (j == NULL)
		goto out;
	names = cJSON_AddArrayToObject(j, "names");
	if (cJSON_AddNumberToObject(j, "v", RECORD_VERSION) == NULL || names == NULL)
		goto out;
	for (size_t i = 0; i < rec->nnames; i++) {
		cJSON *s = cJSON_CreateString(rec->names[i]);
		if (s == NULL || !cJSON_AddItemToArray(names, s)) {
			cJSON_Delete(s);
			goto out;
		}
	}
	if ((rec->ari_cert_id ? cJSON_AddStringToObject(j, "ari_cert_id", rec->ari_cert_id)
			      : cJSON_AddNullToObject(j, "ari_cert_id")) == NULL ||
	    cJSON_AddNumberToObject(j, "renew_after", (double)rec->renew_after) == NULL ||
	    cJSON_AddNumberToObject(j, "key_len", (double)rec->key_len) == NULL ||
	    cJSON_AddNumberToObject(j, "chain_len", (double)rec->chain_len) == NULL)
		goto out;
	hdr = cJSON_PrintUnformatted(j);
	if (hdr == NULL)
		goto out;
	if (strlen(hdr) > HEADER_MAX) {
		rc = AT_E_TOOBIG;
		goto out;
	}
	if ((rc = at_buf_append_str(&b, hdr)) != 0 || (rc = at_buf_append(&b, "\n", 1)) != 0 ||
	    (rc = at_buf_append(&b, rec->key_pem, rec->key_len)) != 0 ||
	    (rc = at_buf_append(&b, rec->chain_pem, rec->chain_len)) != 0)
		goto out;
	*len = b.len;
	*out = at_buf_steal(&b);
	rc = 0;
out:
	at_buf_free_secret(&b);
	free(hdr);
	cJSON_Delete(j);
	return rc;
}

static int dup_bytes(char **out, const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return AT_E_NOMEM;
	memcpy(d, p, n);
	d[n] = '\0';
	*out = d;
	return 0;
}

static int header_len_field(size_t *out, const cJSON *j, const char *field)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, field);

	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > RECORD_MAX)
		return AT_E_PARSE;
	*out = (size_t)v->valuedouble;
	return 0;
}

/* Parses record bytes into rec (names, ids, key and chain; info untouched). */
static int record_parse(struct at_cert_record *rec, const char *data, size_t len)
{
	struct at_cert_record tmp;
	cJSON *j = NULL;
	const char *nl = memchr(data, '\n', len < HEADER_MAX ? len : HEADER_MAX);
	size_t hlen, key_len, chain_len;
	int rc = AT_E_PARSE;

	memset(&tmp, 0, sizeof tmp);
	if (nl == NULL)
		return AT_E_PARSE;
	hlen = (size_t)(nl - data);
	j = cJSON_ParseWithLength(data, hlen);
	if (j == NULL)
		goto out;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "names");
	const cJSON *ari = cJSON_GetObjectItemCaseSensitive(j, "ari_cert_id");
	const cJSON *renew = cJSON_GetObjectItemCaseSensitive(j, "renew_after");
	if (!cJSON_IsNumber(v) || v->valueint != RECORD_VERSION || !cJSON_IsArray(names) || !cJSON_IsNumber(renew))
		goto out;
	if (header_len_field(&key_len, j, "key_len") != 0 || header_len_field(&chain_len, j, "chain_len") != 0)
		goto out;
	/* the whole record, exactly: anything short or long is not a record we wrote */
	if (len - hlen - 1 != key_len + chain_len)
		goto out;
	int n = cJSON_GetArraySize(names);
	if (n < 1 || n > NAMES_MAX)
		goto out;
	tmp.names = calloc((size_t)n, sizeof *tmp.names);
	if (tmp.names == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const cJSON *s = cJSON_GetArrayItem(names, i);
		if (!cJSON_IsString(s) || !name_is_normal(s->valuestring))
			goto out;
		tmp.names[i] = strdup(s->valuestring);
		if (tmp.names[i] == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
		tmp.nnames++;
	}
	if (cJSON_IsString(ari)) {
		tmp.ari_cert_id = strdup(ari->valuestring);
		if (tmp.ari_cert_id == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
	} else if (!cJSON_IsNull(ari)) {
		goto out;
	}
	/* A double outside long long's range (or NaN) cannot be converted (C11 6.3.1.4): a damaged record. */
	if (!(renew->valuedouble >= -9.0e18 && renew->valuedouble <= 9.0e18))
		goto out;
	tmp.renew_after = (long long)renew->valuedouble;
	if ((rc = dup_bytes(&tmp.key_pem, nl + 1, key_len)) != 0)
		goto out;
	tmp.key_len = key_len;
	if ((rc = dup_bytes(&tmp.chain_pem, nl + 1 + key_len, chain_len)) != 0)
		goto out;
	tmp.chain_len = chain_len;
	*rec = tmp;
	memset(&tmp, 0, sizeof tmp);
	rc = 0;
out:
	cJSON_Delete(j);
	at_cert_record_clear(&tmp);
	return rc;
}

/* The checks both save and load make: the record's own bytes, against the record's own names. */
static int record_check(const struct at_cert_record *rec, struct at_cert_info *info)
{
	return at_chain_check(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len,
			      (const char *const *)rec->names, rec->nnames, NULL, 0, info);
}

int at_cert_record_save(struct at_store *s, const char *ca, const struct at_cert_record *rec)
{
	char staging[AT_STORE_KEY_MAX + 1], live[AT_STORE_KEY_MAX + 1];
	struct at_cert_record back;
	char *data = NULL, *again = NULL;
	size_t len = 0, again_len = 0;
	int staged = 0, rc;

	memset(&back, 0, sizeof back);
	if (s == NULL || ca == NULL || rec == NULL || rec->names == NULL || rec->nnames == 0 ||
	    rec->nnames > NAMES_MAX || rec->key_pem == NULL || rec->chain_pem == NULL || rec->key_len == 0 ||
	    rec->chain_len == 0)
		return AT_E_INVAL;
	for (size_t i = 0; i < rec->nnames; i++)
		if (!name_is_normal(rec->names[i]))
			return AT_E_BADNAME;
	rc = record_key(staging, sizeof staging, "staging", ca, rec->names[0]);
	if (rc != 0)
		return rc;
	rc = record_key(live, sizeof live, "certificates", ca, rec->names[0]);
	if (rc != 0)
		return rc;
	rc = record_serialize(&data, &len, rec);
	if (rc != 0)
		goto out;
	rc = at_store_put(s, staging, data, len);
	if (rc != 0)
		goto out;
	staged = 1;
	/* Check what the store gives back, not what we meant to write: those are the bytes that go live. */
	rc = at_store_load(s, staging, &again, &again_len);
	if (rc != 0)
		goto out;
	if (again_len != len || memcmp(again, data, len) != 0) {
		rc = AT_E_STORE;
		goto out;
	}
	rc = record_parse(&back, again, again_len);
	if (rc != 0)
		goto out;
	rc = record_check(&back, NULL);
	if (rc != 0)
		goto out;
	rc = at_store_put(s, live, again, again_len);
	if (rc != 0)
		goto out;
	rc = 0;
out:
	if (staged) {
		/* the staged copy holds a private key: never leave it behind, promoted or not */
		int drc = at_store_del(s, staging);
		if (drc != 0)
			at_log_warn("store: could not delete the staged record %s: %s", staging, at_strerror(drc));
	}
	at_cert_record_clear(&back);
	secret_free(again, again_len);
	secret_free(data, len);
	return rc;
}

int at_cert_record_load(struct at_store *s, const char *ca, const char *name, struct at_cert_record *rec)
{
	char live[AT_STORE_KEY_MAX + 1];
	struct at_cert_record tmp;
	char *data = NULL;
	size_t len = 0;
	int rc;

	memset(&tmp, 0, sizeof tmp);
	if (s == NULL || ca == NULL || rec == NULL)
		return AT_E_INVAL;
	if (!name_is_normal(name))
		return AT_E_BADNAME;
	rc = record_key(live, sizeof live, "certificates", ca, name);
	if (rc != 0)
		return rc;
	rc = at_store_load(s, live, &data, &len);
	if (rc != 0)
		goto out;
	rc = record_parse(&tmp, data, len);
	if (rc != 0)
		goto out;
	if (strcmp(tmp.names[0], name) != 0) {
		rc = AT_E_PARSE; /* the record at this name's place is for another name */
		goto out;
	}
	rc = record_check(&tmp, &tmp.info);
	if (rc != 0)
		goto out;
	*rec = tmp;
	memset(&tmp, 0, sizeof tmp);
	rc = 0;
out:
	at_cert_record_clear(&tmp);
	secret_free(data, len);
	return rc;
}

void at_cert_record_clear(struct at_cert_record *rec)
{
	if (rec == NULL)
		return;
	secret_free(rec->key_pem, rec->key_len);
	free(rec->chain_pem);
	for (size_t i = 0; i < rec->nnames; i++)
		free(rec->names[i]);
	free(rec->names);
	free(rec->ari_cert_id);
	at_cert_info_clear(&rec->info);
	memset(rec, 0, sizeof *rec);
}
