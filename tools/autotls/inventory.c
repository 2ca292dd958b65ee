/*
 * The store's certificates as the command shows them: every live record (certificates/<ca>/<name>/record), its
 * attempt record (attempts/<ca>/<name>/state, engine/attempts.c) and its next renewal, planned by the engine's
 * own rule (engine/renew.c, at_engine_renewal_plan: ARI when the CA offers it, else the lifetime rule) so that
 * what the command says is what the manager does. Reads the store only; the only network use is the ARI request
 * for the configured CA's certificates, which the CA answers without an account.
 */
#include "tools/autotls/cli.h"
#include "store/name.h"
#include "util/keys.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The inverse of at_name_to_component: "_.rest" is "*.rest", any other '_' was an IPv6 literal's ':'. */
static int component_to_name(char *out, size_t size, const char *comp)
{
	char check[AT_NAME_MAX + 1];
	if (snprintf(out, size, "%s", comp) >= (int)size)
		return AT_E_BADNAME;
	if (out[0] == '_' && out[1] == '.')
		out[0] = '*';
	else
		for (char *p = out; *p; p++)
			if (*p == '_')
				*p = ':';
	/* Only a name whose component is exactly comp is one the store wrote. */
	if (at_name_to_component(check, out) != 0 || strcmp(check, comp) != 0)
		return AT_E_BADNAME;
	return 0;
}

/* The last component of a listed folder key "a/b/c/" into out. */
static void last_component(char *out, size_t size, const char *key)
{
	size_t n = strlen(key);
	if (n > 0 && key[n - 1] == '/')
		n--;
	size_t b = n;
	while (b > 0 && key[b - 1] != '/')
		b--;
	snprintf(out, size, "%.*s", (int)(n - b), key + b);
}

static void key_type_of(char *out, size_t size, const struct at_cert_record *rec)
{
	EVP_PKEY *k = NULL;
	enum at_key_type t;
	snprintf(out, size, "?");
	if (at_key_from_pem(&k, rec->key_pem, rec->key_len) == 0 && at_key_type_of(&t, k) == 0)
		snprintf(out, size, "%s", at_key_type_name(t));
	EVP_PKEY_free(k);
}

static int add_cert(struct cli_inventory *inv, struct at_store *store, const char *ca, const char *comp)
{
	struct cli_cert *grown = realloc(inv->certs, (inv->n + 1) * sizeof(*grown));
	if (grown == NULL)
		return AT_E_NOMEM;
	inv->certs = grown;
	struct cli_cert *c = &inv->certs[inv->n++];
	memset(c, 0, sizeof(*c));
	snprintf(c->ca, sizeof(c->ca), "%s", ca);
	c->load_rc = component_to_name(c->name, sizeof(c->name), comp);
	if (c->load_rc != 0) {
		snprintf(c->name, sizeof(c->name), "%s", comp);
		return 0;
	}
	c->load_rc = at_cert_record_load(store, ca, c->name, &c->rec);
	if (c->load_rc == 0)
		key_type_of(c->key_type, sizeof(c->key_type), &c->rec);
	if (at_attempt_plan_read(store, ca, c->name, time(NULL), &c->attempt) != 0)
		memset(&c->attempt, 0, sizeof(c->attempt));
	return 0;
}

/* The renewal plan of every loaded certificate: the engine's for the configured CA (ask_ca), else the rule. */
static void plan_renewals(struct cli_inventory *inv, struct at_store *store, const struct cli_settings *s, int ask_ca)
{
	struct at_engine *e = NULL;
	struct at_engine_config ec = {
		.directory_url = s->cfg.ca,
		.ca_file = s->cfg.ca_roots,
		.key_type = s->cfg.key_type,
		.account_key_type = AT_KEY_P256,
		.store = store,
		.request_timeout_ms = 5000,
		.ari_read_only = 1, /* it only looks: the manager's kept ARI answer is shown, never written */
	};
	for (size_t i = 0; i < inv->n; i++) {
		struct cli_cert *c = &inv->certs[i];
		if (c->load_rc != 0)
			continue;
		c->renew_at = at_renewal_time(c->rec.info.not_before, c->rec.info.not_after, 0, 0);
		if (!ask_ca || strcmp(c->ca, s->ca_comp) != 0)
			continue;
		if (e == NULL && at_engine_new(&e, &ec) != 0) {
			e = NULL;
			continue;
		}
		time_t renew_at, recheck_at;
		int from_ari = 0;
		/* rnd 0: the earliest point the manager may pick (it adds a random spread). */
		if (at_engine_renewal_plan(e, &c->rec, 0, &renew_at, &recheck_at, &from_ari) == 0) {
			c->renew_at = renew_at;
			c->renew_from_ari = from_ari;
			c->renew_asked_ca = 1;
		}
	}
	at_engine_free(e);
}

static int by_ca_name(const void *a, const void *b)
{
	const struct cli_cert *x = a, *y = b;
	int c = strcmp(x->ca, y->ca);
	return c != 0 ? c : strcmp(x->name, y->name);
}

int cli_inventory_read(struct cli_inventory *inv, struct at_store *store, const struct cli_settings *s, int ask_ca)
{
	char **cas = NULL, **names = NULL;
	size_t ncas = 0, nnames = 0;
	memset(inv, 0, sizeof(*inv));
	int rc = at_store_list(store, "certificates/", &cas, &ncas);
	for (size_t i = 0; rc == 0 && i < ncas; i++) {
		char ca[256];
		size_t l = strlen(cas[i]);
		if (l == 0 || cas[i][l - 1] != '/')
			continue;
		last_component(ca, sizeof(ca), cas[i]);
		if (s->ca_set && strcmp(ca, s->ca_comp) != 0)
			continue;
		rc = at_store_list(store, cas[i], &names, &nnames);
		for (size_t j = 0; rc == 0 && j < nnames; j++) {
			char comp[256];
			l = strlen(names[j]);
			if (l == 0 || names[j][l - 1] != '/')
				continue;
			last_component(comp, sizeof(comp), names[j]);
			rc = add_cert(inv, store, ca, comp);
		}
		at_store_list_free(names, nnames);
		names = NULL;
		nnames = 0;
	}
	at_store_list_free(cas, ncas);
	if (rc != 0) {
		cli_inventory_clear(inv);
		return rc;
	}
	if (inv->n > 1)
		qsort(inv->certs, inv->n, sizeof(*inv->certs), by_ca_name);
	plan_renewals(inv, store, s, ask_ca);
	return 0;
}

void cli_inventory_clear(struct cli_inventory *inv)
{
	for (size_t i = 0; i < inv->n; i++)
		at_cert_record_clear(&inv->certs[i].rec);
	free(inv->certs);
	memset(inv, 0, sizeof(*inv));
}

void cli_time(char *out, size_t size, time_t t)
{
	struct tm tm;
	if (t == 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(out, size, "-");
		return;
	}
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
