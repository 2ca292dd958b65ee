/*
 * Distributed TLS-ALPN-01 solving on an etcd store (fleet.h): the CA's validation connection reaches whichever
 * host the load balancer picks, so every host must answer with the ordering host's challenge certificate.
 *
 * The record, <PREFIX>/challenges/tls-alpn-01/<sni as a store component>: "<sni>\n" then the certificate's PEM,
 * then its key's PEM (sealed by the store when AUTOTLS_STORAGE_KEY is set, like every value; the key is a
 * throw-away key for this one validation, but it is still a key).
 *
 * What it owns: the follower's table of the challenges it published from the store (their SNIs and the store's
 * revisions). Who calls it: the leader's TLS-ALPN-01 solver (present, cleanup) and the follower's loop in
 * lead.c, both on the manager thread of the manager process (no lock of its own). What it must never do: block
 * a server thread; publish a challenge whose record does not parse; keep one that the store no longer holds.
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "store/name.h"
#include "store/store.h"
#include "util/keys.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

#define CH_PREFIX "challenges/tls-alpn-01/"
#define FOLLOW_MAX 16 /* a certificate's names validated at once; the region holds as many challenges */

struct followed {
	char sni[AT_NAME_MAX + 1];
	time_t rev; /* the record's mod_revision when published */
	int seen;
};
static struct followed table[FOLLOW_MAX];
static size_t ntable;

static int key_of(const char *sni, char *out, size_t size)
{
	char comp[AT_NAME_MAX + 1];
	int rc = at_name_to_component(comp, sni);
	if (rc == 0)
		rc = at_store_key(out, size, "challenges", "tls-alpn-01", comp, (char *)NULL);
	return rc;
}

int mgr_fleet_challenge_put(const char *sni, const char *chain, size_t chain_len, const char *key, size_t key_len)
{
	struct at_store *st = mgr_fleet_store();
	char k[AT_NAME_MAX + 64];
	size_t sl = strlen(sni), n = sl + 1 + chain_len + key_len;
	if (st == NULL)
		return AT_E_NET;
	int rc = key_of(sni, k, sizeof k);
	if (rc != 0)
		return rc;
	char *v = malloc(n);
	if (v == NULL)
		return AT_E_NOMEM;
	memcpy(v, sni, sl);
	v[sl] = '\n';
	memcpy(v + sl + 1, chain, chain_len);
	memcpy(v + sl + 1 + chain_len, key, key_len);
	rc = at_store_put(st, k, v, n);
	at_secret_free(v, n);
	if (rc != 0)
		return rc;
	/* The followers' watch and loop take some 100-300 ms (test_906); the CA is told to validate only after this
	 * returns. */
	mgr_sleep_ms(MGR_FLEET_SETTLE_MS);
	return 0;
}

void mgr_fleet_challenge_del(const char *sni)
{
	struct at_store *st = mgr_fleet_store();
	char k[AT_NAME_MAX + 64];
	if (st != NULL && key_of(sni, k, sizeof k) == 0 && at_store_del(st, k) != 0)
		at_log_debug("the fleet's challenge record for %s was not deleted; the next challenge replaces it", sni);
}

static struct followed *find(const char *sni)
{
	for (size_t i = 0; i < ntable; i++)
		if (strcmp(table[i].sni, sni) == 0)
			return &table[i];
	return NULL;
}

/* Publishes the record v (len bytes) into this host's region. 0 with its SNI in sni, or an error. */
static int publish_record(const char *v, size_t len, char sni[AT_NAME_MAX + 1])
{
	static const char end_cert[] = "-----END CERTIFICATE-----";
	const char *nl = memchr(v, '\n', len);
	if (nl == NULL || nl == v || (size_t)(nl - v) > AT_NAME_MAX || memchr(v, '\0', len) != NULL)
		return AT_E_PARSE;
	memcpy(sni, v, (size_t)(nl - v));
	sni[nl - v] = '\0';
	const char *pem = nl + 1, *stop = v + len;
	const char *e = strstr(pem, end_cert); /* v is NUL-terminated by the store (at_store_load) */
	if (e == NULL)
		return AT_E_PARSE;
	e += sizeof(end_cert) - 1;
	if (e < stop && *e == '\n')
		e++;
	size_t chain_len = (size_t)(e - pem), key_len = (size_t)(stop - e);
	char *chain = malloc(chain_len + 1), *key = malloc(key_len + 1);
	if (chain == NULL || key == NULL || key_len == 0) {
		free(chain);
		free(key);
		return key_len == 0 ? AT_E_PARSE : AT_E_NOMEM;
	}
	memcpy(chain, pem, chain_len);
	chain[chain_len] = '\0';
	memcpy(key, e, key_len);
	key[key_len] = '\0';
	return mgr_publish_challenge(sni, &chain, chain_len, &key, key_len); /* takes both */
}

void mgr_fleet_challenges_follow(void)
{
	struct at_store *st = mgr_fleet_on() ? mgr_fleet_store() : NULL;
	char **keys = NULL;
	size_t n = 0;
	if (st == NULL || at_store_list(st, CH_PREFIX, &keys, &n) != 0)
		return; /* etcd unreachable: what is published stays until it can be asked again */
	for (size_t i = 0; i < ntable; i++)
		table[i].seen = 0;
	for (size_t i = 0; i < n; i++) {
		struct at_store_stat ss;
		char *v = NULL, sni[AT_NAME_MAX + 1];
		size_t len = 0;
		size_t kl = strlen(keys[i]);
		if (kl == 0 || keys[i][kl - 1] == '/' || at_store_stat(st, keys[i], &ss) != 0)
			continue;
		/* The same record already published: nothing to do. (The SNI is known only from the record; the
		 * revision is compared for every entry, which is cheap: a handful at most.) */
		int known = 0;
		for (size_t t = 0; t < ntable; t++)
			if (table[t].rev == ss.modified) {
				table[t].seen = known = 1;
				break;
			}
		if (known || at_store_load(st, keys[i], &v, &len) != 0)
			continue;
		int rc = publish_record(v, len, sni);
		at_secret_free(v, len);
		if (rc != 0) {
			at_log_warn("the fleet's challenge record %s cannot be published here (%s)", keys[i], at_strerror(rc));
			continue;
		}
		struct followed *f = find(sni);
		if (f == NULL && ntable < FOLLOW_MAX)
			f = &table[ntable++];
		if (f != NULL) {
			snprintf(f->sni, sizeof f->sni, "%s", sni);
			f->rev = ss.modified;
			f->seen = 1;
		}
		at_log_debug("tls-alpn-01 challenge for %s published from the fleet's store", sni);
	}
	at_store_list_free(keys, n);
	for (size_t i = 0; i < ntable;) {
		if (table[i].seen) {
			i++;
			continue;
		}
		if (mgr_withdraw_challenge(table[i].sni) != 0)
			at_log_debug("withdrawing the fleet's challenge for %s failed", table[i].sni);
		table[i] = table[--ntable];
	}
}
