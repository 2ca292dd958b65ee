/*
 * Distributed HTTP-01 solving on an etcd store (fleet.h): the CA's validation request reaches whichever host the
 * load balancer picks, so every host must answer the ordering host's tokens.
 *
 * The record, <PREFIX>/challenges/http-01/<lowercase hex SHA-256 of the token> (challenge/fleet_record.h): the key
 * authorization "<token>.<thumbprint>" (RFC 8555 section 8.1), which every responder sends to whoever asks
 * anyway. No key material, so nothing here needs sealing or wiping.
 *
 * What it owns: the leader's wrapped solver (wrap: fleet_wrap.c) and the
 * follower's table of the tokens it answers from the store. Who calls it: the leader's solver (the wrapped
 * present and cleanup), the follower's loop in lead.c and a new leader's take-over (fleet_takeover.c), all on the
 * manager thread of the manager process, one at a time; the table needs no lock. What it must never do: answer
 * a record that does not parse (a follower treats the store as input from elsewhere:
 * at_fleet_http01_check, and the responder's present checks again); keep answering a token the store no longer holds; block a server thread.
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "acme/solver.h"
#include "challenge/fleet_record.h"
#include "challenge/http01_request.h"
#include "store/store.h"
#include "util/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define H01_PREFIX "challenges/http-01/"
#define H01_KIND "http-01"
#define H01_FOLLOW_MAX 16   /* tokens answered at once for the leader: a certificate's names validated together */
#define H01_KEY_MAX AT_FLEET_KEY_MAX

static struct mgr_fleet_wrap wrap = MGR_FLEET_WRAP_INIT;

struct followed {
	char key[H01_KEY_MAX];
	char token[AT_HTTP01_TOKEN_MAX + 1];
	int answering; /* 0: the local present failed (logged once); nothing to withdraw */
	int seen;
};
static struct followed table[H01_FOLLOW_MAX];
static size_t ntable;

static int token_key(char *out, size_t size, const char *token)
{
	return at_fleet_record_key(out, size, H01_KIND, token, strlen(token));
}

/* The leader: answers here first (the port or the webroot file), then tells the fleet and gives it time. */
static int lead_present(void *ctx, const struct at_challenge *ch)
{
	struct at_solver s = mgr_fleet_wrap_inner(ctx);
	char k[H01_KEY_MAX];
	int rc = s.present(s.ctx, ch);
	if (rc != 0)
		return rc;
	struct at_store *st = mgr_fleet_store();
	size_t kl = ch->key_authorization ? strlen(ch->key_authorization) : 0;
	if (st == NULL)
		rc = AT_E_NET;
	else if (kl == 0 || kl > AT_FLEET_HTTP01_VALUE_MAX)
		rc = AT_E_RANGE;
	else if ((rc = token_key(k, sizeof k, ch->token)) == 0)
		rc = at_store_put(st, k, ch->key_authorization, kl);
	if (rc != 0) {
		at_log_warn("http-01 token for %s not shared with the fleet (%s): only this host answers", ch->identifier,
			    at_strerror(rc));
		return 0;
	}
	/* The followers' watch and loop take some 100-300 ms (test_911); the CA is told to validate after this. */
	mgr_sleep_ms(MGR_FLEET_SETTLE_MS);
	return 0;
}

static void lead_cleanup(void *ctx, const struct at_challenge *ch)
{
	struct at_solver s = mgr_fleet_wrap_inner(ctx);
	struct at_store *st = mgr_fleet_store();
	char k[H01_KEY_MAX];
	if (ch != NULL && ch->token != NULL && st != NULL && token_key(k, sizeof k, ch->token) == 0 &&
	    at_store_del(st, k) != 0)
		at_log_debug("the fleet's http-01 record was not deleted; the next leader removes it");
	s.cleanup(s.ctx, ch);
}

void mgr_fleet_http01_wrap(struct at_solver *s)
{
	if (!mgr_fleet_publishes_here() || s->type != AT_CHALLENGE_HTTP_01)
		return;
	mgr_fleet_wrap_set(&wrap, s, lead_present, lead_cleanup);
}

static struct followed *find(const char *key)
{
	for (size_t i = 0; i < ntable; i++)
		if (strcmp(table[i].key, key) == 0)
			return &table[i];
	return NULL;
}

/* Starts answering the record at key (value v[0..len), NUL-terminated by the store): the table's entry, or NULL
 * when the table is full. */
static struct followed *answer(const char *key, const char *v, size_t len)
{
	struct at_solver s;
	size_t tl = 0;
	static int full_said;
	if (ntable == H01_FOLLOW_MAX) {
		/* Said once until the table has room again: a record written by something else than a leader
		 * (malformed records keep their entry while they stay) would otherwise go unanswered in silence. */
		if (!full_said++)
			at_log_warn("the fleet's store holds more than %d http-01 records; %s and later ones are not "
				    "answered here", H01_FOLLOW_MAX, key);
		return NULL;
	}
	full_said = 0;
	if (strlen(key) >= H01_KEY_MAX)
		return NULL;
	/* Kept in the table even when refused, so that it is refused (and logged) once, not on every pass. */
	struct followed *f = &table[ntable++];
	memset(f, 0, sizeof *f);
	snprintf(f->key, sizeof f->key, "%s", key);
	if (at_fleet_http01_check(key, v, len, &tl) != 0) {
		at_log_warn("the fleet's http-01 record %s is malformed; not answered", key);
		return f;
	}
	memcpy(f->token, v, tl);
	f->token[tl] = '\0';
	struct at_challenge ch = { .type = AT_CHALLENGE_HTTP_01, .identifier_type = "dns", .identifier = "",
				   .token = f->token, .key_authorization = v };
	int rc = mgr_challenge_solver(AT_CHALLENGE_HTTP_01, &s);
	if (rc == 0)
		rc = s.present(s.ctx, &ch);
	f->answering = rc == 0;
	if (rc == 0)
		at_log_debug("http-01 token %s answered here from the fleet's store", f->token);
	else
		at_log_warn("http-01 token %s from the fleet's store cannot be answered here (%s)", f->token,
			    at_strerror(rc));
	return f;
}

static void withdraw(struct followed *f)
{
	struct at_solver s;
	struct at_challenge ch = { .type = AT_CHALLENGE_HTTP_01, .token = f->token };
	if (f->answering && mgr_challenge_solver(AT_CHALLENGE_HTTP_01, &s) == 0)
		s.cleanup(s.ctx, &ch);
	*f = table[--ntable];
}

void mgr_fleet_http01_follow(void)
{
	struct at_store *st = mgr_fleet_on() ? mgr_fleet_store() : NULL;
	char **keys = NULL;
	size_t n = 0;
	if (st == NULL || at_store_list(st, H01_PREFIX, &keys, &n) != 0)
		return; /* etcd unreachable: what is answered stays until it can be asked again */
	for (size_t i = 0; i < ntable; i++)
		table[i].seen = 0;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(keys[i]), len = 0;
		char *v = NULL;
		if (kl == 0 || keys[i][kl - 1] == '/')
			continue;
		/* A token's key authorization never changes (the account's thumbprint is in it): a known record
		 * is not read again. */
		struct followed *f = find(keys[i]);
		if (f == NULL && at_store_load(st, keys[i], &v, &len) == 0) {
			f = answer(keys[i], v, len);
			free(v);
		}
		if (f != NULL)
			f->seen = 1;
	}
	at_store_list_free(keys, n);
	for (size_t i = 0; i < ntable;) {
		if (table[i].seen)
			i++;
		else
			withdraw(&table[i]); /* moves the last entry into i */
	}
}

void mgr_fleet_http01_forget(void)
{
	while (ntable > 0)
		withdraw(&table[ntable - 1]);
}

int mgr_fleet_http01_leftovers(void)
{
	struct at_store *st = mgr_fleet_store();
	char **keys = NULL;
	size_t n = 0;
	int removed = 0;
	if (st == NULL)
		return AT_E_NET;
	int rc = at_store_list(st, H01_PREFIX, &keys, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(keys[i]);
		if (kl > 0 && keys[i][kl - 1] != '/' && at_store_del(st, keys[i]) == 0)
			removed++;
	}
	at_store_list_free(keys, n);
	return removed;
}
