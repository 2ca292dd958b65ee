/*
 * DNS-01 records' cleanup across an etcd fleet (fleet.h): a TXT record the leader set (through AUTOTLS_DNS_HOOK or
 * an RFC 2136 update) is noted in the store while it exists, so that when the leader dies before its cleanup,
 * the next leader removes it (mgr_fleet_dns01_leftovers, from fleet_takeover.c) instead of leaving it at the
 * DNS provider for good.
 *
 * The note, <PREFIX>/challenges/dns-01/<lowercase hex SHA-256 of "<name>\n<value>"> (challenge/fleet_record.h):
 * "<name>\n<value>", the record's name ("_acme-challenge.<domain>") and value (base64url of a SHA-256, RFC 8555
 * section 8.4). Both are public once in the DNS; no key material.
 *
 * What it owns: the leader's wrapped solver (wrap: fleet_wrap.c). Who calls
 * it: the leader's solver (the wrapped present and cleanup) and a new leader's take-over, on the manager's
 * threads. What it must never do: hand a note that does not parse to the hook (the store is input from
 * elsewhere: at_fleet_dns01_check); block a server thread (the hook's waits release the quiesce lock, challenges.c).
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "acme/solver.h"
#include "challenge/fleet_record.h"
#include "store/store.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define D01_PREFIX "challenges/dns-01/"
#define D01_KIND "dns-01"
#define D01_LABEL "_acme-challenge."
#define D01_KEY_MAX AT_FLEET_KEY_MAX
#define D01_RECORD_MAX AT_FLEET_DNS01_RECORD_MAX

static struct mgr_fleet_wrap wrap = MGR_FLEET_WRAP_INIT;

/* The note for ch into note (its length in *len) and its key into key. 0, or AT_E_RANGE / AT_E_INVAL. */
static int note_of(const struct at_challenge *ch, char note[D01_RECORD_MAX + 1], size_t *len,
		   char key[D01_KEY_MAX])
{
	if (ch == NULL || ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return AT_E_INVAL;
	int n = snprintf(note, D01_RECORD_MAX + 1, "%s\n%s", ch->dns_txt_name, ch->dns_txt_value);
	if (n < 0 || n > D01_RECORD_MAX)
		return AT_E_RANGE;
	*len = (size_t)n;
	return at_fleet_record_key(key, D01_KEY_MAX, D01_KIND, note, *len);
}

/* The note goes first: a leader that dies while the hook runs or the record propagates leaves it behind. */
static int lead_present(void *ctx, const struct at_challenge *ch)
{
	struct at_solver s = mgr_fleet_wrap_inner(ctx);
	struct at_store *st = mgr_fleet_store();
	char note[D01_RECORD_MAX + 1], key[D01_KEY_MAX];
	size_t len = 0;
	int noted = st != NULL && note_of(ch, note, &len, key) == 0 && at_store_put(st, key, note, len) == 0;
	if (!noted)
		at_log_warn("dns-01 record %s not noted in the fleet's store: if this host dies before removing it, it "
			    "stays", ch->dns_txt_name ? ch->dns_txt_name : "?");
	int rc = s.present(s.ctx, ch);
	if (rc != 0 && noted && at_store_del(st, key) != 0) /* present removed what it set, as far as it could */
		at_log_debug("the fleet's dns-01 note %s was not deleted; the next leader runs the cleanup", key);
	return rc;
}

static void lead_cleanup(void *ctx, const struct at_challenge *ch)
{
	struct at_solver s = mgr_fleet_wrap_inner(ctx);
	char note[D01_RECORD_MAX + 1], key[D01_KEY_MAX];
	size_t len = 0;
	s.cleanup(s.ctx, ch);
	struct at_store *st = mgr_fleet_store();
	if (st != NULL && note_of(ch, note, &len, key) == 0 && at_store_del(st, key) != 0)
		at_log_debug("the fleet's dns-01 note %s was not deleted; the next leader runs the cleanup again", key);
}

void mgr_fleet_dns01_wrap(struct at_solver *s)
{
	if (!mgr_fleet_publishes_here() || s->type != AT_CHALLENGE_DNS_01)
		return;
	mgr_fleet_wrap_set(&wrap, s, lead_present, lead_cleanup);
}

/* Splits the note v[0..len) (NUL-terminated) at key into name and value, both into v, when at_fleet_dns01_check
 * passes. 0 or AT_E_PARSE. */
static int note_parse(const char *key, char *v, size_t len, const char **name, const char **value)
{
	size_t nlen = 0;
	if (at_fleet_dns01_check(key, v, len, &nlen) != 0)
		return AT_E_PARSE;
	v[nlen] = '\0';
	*name = v;
	*value = v + nlen + 1;
	return 0;
}

/* A leftover's cleanup runs the DNS hook (up to its time limit, a minute): the fleet lock's 6 s lease is kept
 * alive meanwhile, and a lead lost stops the hook (the next leader finds the note). */
static int keep_lead(void *ctx)
{
	(void)ctx;
	return mgr_fleet_keep();
}

int mgr_fleet_dns01_leftovers(void)
{
	struct at_store *st = mgr_fleet_store();
	struct at_solver s;
	char **keys = NULL;
	size_t n = 0;
	int removed = 0;
	if (st == NULL)
		return AT_E_NET;
	int rc = at_store_list(st, D01_PREFIX, &keys, &n);
	if (rc != 0)
		return rc;
	int can = n > 0 && mgr_challenge_solver(AT_CHALLENGE_DNS_01, &s) == 0;
	for (size_t i = 0; i < n && mgr_fleet_keep() == 0; i++) {
		size_t kl = strlen(keys[i]), len = 0;
		char *v = NULL;
		const char *name = NULL, *value = NULL;
		if (kl == 0 || keys[i][kl - 1] == '/' || at_store_load(st, keys[i], &v, &len) != 0)
			continue;
		if (note_parse(keys[i], v, len, &name, &value) != 0) {
			at_log_warn("the fleet's dns-01 note %s is malformed; deleted without running the cleanup", keys[i]);
		} else if (!can) {
			at_log_warn("dns-01 record %s was left by the fleet's last leader, but no DNS-01 solver is configured "
				    "here to remove it", name);
			free(v);
			continue;
		} else {
			struct at_challenge ch = { .type = AT_CHALLENGE_DNS_01, .identifier_type = "dns",
						   .identifier = name + sizeof(D01_LABEL) - 1, .dns_txt_name = name,
						   .dns_txt_value = value, .keepalive = keep_lead };
			at_log_info("dns-01 record %s was left by the fleet's last leader; removing it", name);
			s.cleanup(s.ctx, &ch);
		}
		free(v);
		if (at_store_del(st, keys[i]) == 0)
			removed++;
	}
	at_store_list_free(keys, n);
	return removed;
}
