/*
 * autotls status [--json]: every certificate of the store, as text for a person or as one JSON object for a
 * program (mod_md's md-status is the model). The key is never shown; the serial is hex as OpenSSL prints it.
 */
#include "tools/autotls/cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *renewal_rule(const struct cli_cert *c)
{
	if (c->renew_from_ari)
		return "ari";
	return "lifetime";
}

static void print_text(const struct cli_inventory *inv, const struct cli_settings *s)
{
	char t1[32], t2[32];
	time_t now = time(NULL);
	if (inv->n == 0)
		printf("no certificates in the store %s\n", s->cfg.storage);
	for (size_t i = 0; i < inv->n; i++) {
		const struct cli_cert *c = &inv->certs[i];
		printf("%s%s\n  ca:          %s\n", i ? "\n" : "", c->name, c->ca);
		if (c->load_rc != 0) {
			printf("  error:       the record cannot be read: %s\n", at_strerror(c->load_rc));
			continue;
		}
		printf("  names:      ");
		for (size_t k = 0; k < c->rec.nnames; k++)
			printf(" %s", c->rec.names[k]);
		printf("\n  issuer:      %s\n  serial:      %s\n", c->rec.info.issuer, c->rec.info.serial);
		cli_time(t1, sizeof(t1), c->rec.info.not_before);
		cli_time(t2, sizeof(t2), c->rec.info.not_after);
		printf("  not before:  %s\n  not after:   %s (%s)\n  key type:    %s\n", t1, t2,
		       now < c->rec.info.not_after ? "valid" : "EXPIRED", c->key_type);
		cli_time(t1, sizeof(t1), c->renew_at);
		printf("  renewal:     %s (%s)\n", t1,
		       c->renew_from_ari ? "the CA's ARI window" :
		       c->renew_asked_ca ? "lifetime rule: a third of the lifetime left, half under ten days; the CA's "
					   "ARI does not say otherwise" :
					   "lifetime rule: a third of the lifetime left, half under ten days");
		if (c->attempt.last_problem[0]) {
			cli_time(t1, sizeof(t1), c->attempt.last_problem_at);
			cli_time(t2, sizeof(t2), c->attempt.next_try);
			printf("  last error:  %s: %s (%d failed in a row; next try %s)\n", t1, c->attempt.last_problem,
			       c->attempt.failures, t2);
		} else {
			printf("  last error:  none\n");
		}
	}
}

static cJSON *time_pair(cJSON *o, const char *name, time_t t)
{
	char iso[32], key[48];
	cli_time(iso, sizeof(iso), t);
	snprintf(key, sizeof(key), "%s_utc", name);
	if (cJSON_AddNumberToObject(o, name, (double)t) == NULL || cJSON_AddStringToObject(o, key, iso) == NULL)
		return NULL;
	return o;
}

static cJSON *cert_json(const struct cli_cert *c)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL || !cJSON_AddStringToObject(o, "name", c->name) || !cJSON_AddStringToObject(o, "ca", c->ca))
		goto fail;
	if (c->load_rc != 0) {
		if (!cJSON_AddStringToObject(o, "error", at_strerror(c->load_rc)))
			goto fail;
		return o;
	}
	cJSON *names = cJSON_AddArrayToObject(o, "names");
	if (names == NULL)
		goto fail;
	for (size_t k = 0; k < c->rec.nnames; k++)
		if (!cJSON_AddItemToArray(names, cJSON_CreateString(c->rec.names[k])))
			goto fail;
	if (!cJSON_AddStringToObject(o, "subject", c->rec.info.subject) ||
	    !cJSON_AddStringToObject(o, "issuer", c->rec.info.issuer) ||
	    !cJSON_AddStringToObject(o, "serial", c->rec.info.serial) ||
	    !time_pair(o, "not_before", c->rec.info.not_before) || !time_pair(o, "not_after", c->rec.info.not_after) ||
	    !cJSON_AddStringToObject(o, "key_type", c->key_type))
		goto fail;
	cJSON *r = cJSON_AddObjectToObject(o, "renewal");
	if (r == NULL || !time_pair(r, "at", c->renew_at) || !cJSON_AddStringToObject(r, "rule", renewal_rule(c)) ||
	    !cJSON_AddBoolToObject(r, "asked_ca", c->renew_asked_ca))
		goto fail;
	if (c->attempt.last_problem[0]) {
		cJSON *e = cJSON_AddObjectToObject(o, "last_error");
		if (e == NULL || !cJSON_AddStringToObject(e, "problem", c->attempt.last_problem) ||
		    !time_pair(e, "at", c->attempt.last_problem_at) || !time_pair(e, "next_try", c->attempt.next_try) ||
		    !cJSON_AddNumberToObject(e, "failures", c->attempt.failures))
			goto fail;
	} else if (!cJSON_AddNullToObject(o, "last_error")) {
		goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static int print_json(const struct cli_inventory *inv, const struct cli_settings *s)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root ? cJSON_AddArrayToObject(root, "certificates") : NULL;
	int ok = arr != NULL && cJSON_AddStringToObject(root, "version", AT_VERSION) &&
		 cJSON_AddStringToObject(root, "storage", s->cfg.storage) && time_pair(root, "now", time(NULL));
	for (size_t i = 0; ok && i < inv->n; i++) {
		cJSON *c = cert_json(&inv->certs[i]);
		ok = c != NULL && cJSON_AddItemToArray(arr, c);
	}
	if (ok)
		cli_status_server(s, root); /* the running server's processes (procs.c) */
	char *text = ok ? cJSON_Print(root) : NULL;
	cJSON_Delete(root);
	if (text == NULL) {
		fprintf(stderr, "autotls: out of memory writing the JSON\n");
		return CLI_FAIL;
	}
	printf("%s\n", text);
	free(text);
	return CLI_OK;
}

int cli_status(int argc, char **argv, const char *storage_opt)
{
	int json = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "autotls status: unknown option %.40s; the only one is --json\n", argv[i]);
			return CLI_USAGE;
		}
	}
	struct cli_settings s;
	struct at_store *store = NULL;
	struct cli_inventory inv;
	if (cli_settings_read(&s, storage_opt) != 0)
		return CLI_FAIL;
	char why[600];
	if (cli_store_open(&store, &s, why, sizeof(why)) != 0) {
		fprintf(stderr, "autotls: %s\n", why);
		cli_settings_clear(&s);
		return CLI_FAIL;
	}
	int rc = cli_inventory_read(&inv, store, &s, 1);
	int code = CLI_OK;
	if (rc != 0) {
		fprintf(stderr, "autotls: cannot list the store %s: %s; run as root or as the server's user\n",
			s.cfg.storage, at_strerror(rc));
		code = CLI_FAIL;
	} else {
		if (json)
			code = print_json(&inv, &s);
		else
			print_text(&inv, &s);
		if (!json)
			cli_status_server(&s, NULL);
		cli_inventory_clear(&inv);
	}
	at_store_close(store);
	cli_settings_clear(&s);
	return code;
}
