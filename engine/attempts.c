/*
 * The attempt record of a name set: what the engine remembers, in the store, about trying to obtain its
 * certificate, so that a restart (systemd's Restart=always, a crash loop, a second host sharing the store) starts
 * from what happened instead of from zero. Key: attempts/<ca>/<first-name>/state, one small JSON value:
 *
 *   next_try      unix seconds before which no new round starts (backoff, the CA's Retry-After, the budget)
 *   failures      failed rounds in a row (the backoff's step)
 *   fails         when each failed authorization of the last hour happened (the CA counts them: Let's Encrypt
 *                 allows 5 per identifier per account per hour)
 *   round_start, round_tried
 *                 the round under way: the challenge types that failed in it (the others may still be tried
 *                 before next_try, each once)
 *   last_ok       the challenge type that last worked (tried first)
 *   problem       the last failure: its code, the CA's problem type and detail, and when
 *
 * Written by at_engine_ensure after every issuance it tries (under the names' issue lock); read by
 * at_engine_attempt_plan and, with guard_attempts, by at_engine_ensure before it orders. A record that does not
 * parse is treated as absent (it only ever makes us wait less). Never holds secrets.
 */
#include "engine/internal.h"
#include "store/name.h"
#include "util/err.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_MAX 8192
#define FAILS_MAX 16
#define HOUR_S 3600
/* Failed authorizations per name set per hour we allow ourselves: Let's Encrypt refuses the sixth, and one is
 * kept in hand for another client on the account (or a person trying by hand). */
#define FAIL_BUDGET 4
/* A round (the enabled challenge types tried one after the other) left open this long after its first failure. */
#define ROUND_S HOUR_S
#define ALL_TYPES ((1u << AT_CHALLENGE_COUNT) - 1)

struct state {
	long long next_try;
	int failures;
	long long fails[FAILS_MAX];
	size_t nfails;
	long long round_start;
	unsigned round_tried;
	int last_ok; /* a type, or -1 */
	int problem_rc;
	long long problem_at;
	char problem_type[128];
	char problem_detail[256];
};

static void state_init(struct state *st)
{
	memset(st, 0, sizeof(*st));
	st->last_ok = -1;
}

static int state_key_ca(char *out, size_t size, const char *ca, const char *name)
{
	char comp[AT_NAME_MAX + 1];
	int rc = at_name_to_component(comp, name);
	return rc != 0 ? rc : at_store_key(out, size, "attempts", ca, comp, "state", (char *)NULL);
}

static int state_key(char *out, size_t size, struct at_engine *e, const char *name)
{
	return state_key_ca(out, size, e->ca, name);
}

static long long num(const cJSON *j, const char *member)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, member);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void str(char *out, size_t size, const cJSON *j, const char *member)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, member));
	snprintf(out, size, "%s", v ? v : "");
}

/* Loads the record of name under the CA component ca (a fresh one when absent or unreadable). */
static void state_load_ca(struct at_store *store, const char *ca, const char *name, struct state *st)
{
	char key[1024], *val = NULL;
	size_t len = 0;
	state_init(st);
	if (state_key_ca(key, sizeof(key), ca, name) != 0 || at_store_load(store, key, &val, &len) != 0)
		return;
	cJSON *j = len <= STATE_MAX ? cJSON_ParseWithLength(val, len) : NULL;
	at_secret_free(val, len);
	if (!cJSON_IsObject(j)) {
		at_log_warn("the attempt record of %s does not parse; starting afresh", name);
		cJSON_Delete(j);
		return;
	}
	st->next_try = num(j, "next_try");
	st->failures = (int)num(j, "failures");
	st->round_start = num(j, "round_start");
	st->round_tried = (unsigned)num(j, "round_tried") & ALL_TYPES;
	enum at_challenge_type t;
	const char *ok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "last_ok"));
	if (ok && at_challenge_type_parse(&t, ok) == 0)
		st->last_ok = (int)t;
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(j, "fails"))
		if (cJSON_IsNumber(f) && st->nfails < FAILS_MAX)
			st->fails[st->nfails++] = (long long)f->valuedouble;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "problem");
	st->problem_rc = (int)num(p, "code");
	st->problem_at = num(p, "at");
	str(st->problem_type, sizeof(st->problem_type), p, "type");
	str(st->problem_detail, sizeof(st->problem_detail), p, "detail");
	if (st->failures < 0 || st->failures > 1000)
		st->failures = 0;
	cJSON_Delete(j);
}

static void state_load(struct at_engine *e, const char *name, struct state *st)
{
	state_load_ca(e->cfg.store, e->ca, name, st);
}

static int state_save(struct at_engine *e, const char *name, const struct state *st)
{
	char key[1024];
	int rc = state_key(key, sizeof(key), e, name);
	if (rc != 0)
		return rc;
	cJSON *j = cJSON_CreateObject();
	cJSON *fails = cJSON_AddArrayToObject(j, "fails");
	cJSON *p = cJSON_AddObjectToObject(j, "problem");
	rc = AT_E_NOMEM;
	if (j == NULL || fails == NULL || p == NULL || !cJSON_AddNumberToObject(j, "v", 1) ||
	    !cJSON_AddNumberToObject(j, "next_try", (double)st->next_try) ||
	    !cJSON_AddNumberToObject(j, "failures", st->failures) ||
	    !cJSON_AddNumberToObject(j, "round_start", (double)st->round_start) ||
	    !cJSON_AddNumberToObject(j, "round_tried", st->round_tried) ||
	    !cJSON_AddNumberToObject(p, "code", st->problem_rc) ||
	    !cJSON_AddNumberToObject(p, "at", (double)st->problem_at) ||
	    !cJSON_AddStringToObject(p, "type", st->problem_type) ||
	    !cJSON_AddStringToObject(p, "detail", st->problem_detail))
		goto out;
	if (st->last_ok >= 0 &&
	    !cJSON_AddStringToObject(j, "last_ok", at_challenge_type_name((enum at_challenge_type)st->last_ok)))
		goto out;
	for (size_t i = 0; i < st->nfails; i++)
		if (!cJSON_AddItemToArray(fails, cJSON_CreateNumber((double)st->fails[i])))
			goto out;
	char *text = cJSON_PrintUnformatted(j);
	if (text == NULL)
		goto out;
	rc = at_store_put(e->cfg.store, key, text, strlen(text));
	free(text);
out:
	cJSON_Delete(j);
	return rc;
}

/* Forgets failed authorizations older than an hour. */
static void prune(struct state *st, long long now)
{
	size_t o = 0;
	for (size_t i = 0; i < st->nfails; i++)
		if (st->fails[i] > now - HOUR_S && st->fails[i] <= now + HOUR_S)
			st->fails[o++] = st->fails[i];
	st->nfails = o;
}

/* When the hour's budget has room again (the oldest failure leaves the window). */
static long long budget_free_at(const struct state *st)
{
	long long oldest = st->fails[0];
	for (size_t i = 1; i < st->nfails; i++)
		if (st->fails[i] < oldest)
			oldest = st->fails[i];
	return oldest + HOUR_S;
}

static void fill_plan(const struct state *st, const enum at_challenge_type *offered, size_t noffered, long long now,
		      struct at_attempt_plan *out)
{
	unsigned allowed = 0;
	memset(out, 0, sizeof(*out));
	out->failures = st->failures;
	out->failed_authz_hour = (int)st->nfails;
	out->next_try = (time_t)st->next_try;
	out->last_problem_at = (time_t)st->problem_at;
	if (st->problem_at)
		snprintf(out->last_problem, sizeof(out->last_problem), "%s%s%s%s%s", at_strerror(st->problem_rc),
			 st->problem_type[0] ? " (" : "", st->problem_type, st->problem_type[0] ? ")" : "",
			 st->problem_detail[0] ? ": " : "");
	if (st->problem_at && st->problem_detail[0]) {
		size_t l = strlen(out->last_problem);
		snprintf(out->last_problem + l, sizeof(out->last_problem) - l, "%s", st->problem_detail);
	}
	if (now >= st->next_try)
		allowed = ALL_TYPES; /* a new round */
	else if (st->round_start && now - st->round_start < ROUND_S)
		allowed = ALL_TYPES & ~st->round_tried; /* the round under way: the types it has not tried */
	int budget = FAIL_BUDGET - (int)st->nfails;
	/* last_ok first, then the caller's order */
	if (st->last_ok >= 0)
		for (size_t i = 0; i < noffered; i++)
			if ((int)offered[i] == st->last_ok && (allowed & (1u << offered[i])) && budget > 0) {
				out->order[out->norder++] = offered[i];
				budget--;
			}
	for (size_t i = 0; i < noffered && out->norder < AT_CHALLENGE_COUNT; i++) {
		int dup = 0;
		for (size_t k = 0; k < out->norder; k++)
			dup |= out->order[k] == offered[i];
		if (dup || offered[i] >= AT_CHALLENGE_COUNT || !(allowed & (1u << offered[i])) || budget <= 0)
			continue;
		out->order[out->norder++] = offered[i];
		budget--;
	}
	out->now_ok = out->norder > 0;
	if (!out->now_ok) {
		long long when = st->next_try > now ? st->next_try : now;
		if (FAIL_BUDGET - (int)st->nfails <= 0 && budget_free_at(st) > when)
			when = budget_free_at(st);
		out->next_try = (time_t)when;
	} else {
		out->next_try = (time_t)now;
	}
}

time_t engine_now(const struct at_engine *e)
{
	return e->cfg.clock ? e->cfg.clock() : time(NULL);
}

int at_engine_attempt_plan(struct at_engine *e, const char *const *names, size_t nnames,
			   const enum at_challenge_type *offered, size_t noffered, struct at_attempt_plan *out)
{
	struct state st;
	if (nnames == 0 || names == NULL || out == NULL)
		return AT_E_INVAL;
	time_t now = engine_now(e);
	state_load(e, names[0], &st);
	prune(&st, now);
	fill_plan(&st, offered, noffered, now, out);
	return 0;
}

int at_attempt_plan_read(struct at_store *store, const char *ca, const char *name, time_t now,
			 struct at_attempt_plan *out)
{
	struct state st;
	if (store == NULL || ca == NULL || name == NULL || out == NULL)
		return AT_E_INVAL;
	state_load_ca(store, ca, name, &st);
	prune(&st, now);
	fill_plan(&st, NULL, 0, now, out);
	return 0;
}

int engine_attempt_allowed(struct at_engine *e, const char *name, const struct at_solver *solvers, size_t nsolvers,
			   struct at_attempt_plan *plan)
{
	enum at_challenge_type offered[AT_CHALLENGE_COUNT];
	size_t n = 0;
	for (size_t i = 0; i < nsolvers && n < AT_CHALLENGE_COUNT; i++)
		offered[n++] = solvers[i].type;
	const char *names[] = { name };
	if (at_engine_attempt_plan(e, names, 1, offered, n, plan) != 0)
		return 1;
	return plan->now_ok;
}

void engine_attempt_record(struct at_engine *e, const char *name, const struct at_solver *solvers, size_t nsolvers,
			   int used_type, int rc, time_t not_after)
{
	struct state st;
	time_t now = engine_now(e);
	unsigned mask = 0;
	for (size_t i = 0; i < nsolvers; i++)
		if (solvers[i].type < AT_CHALLENGE_COUNT)
			mask |= 1u << solvers[i].type;
	state_load(e, name, &st);
	prune(&st, now);
	if (rc == 0) {
		int fails_kept = (int)st.nfails;
		long long kept[FAILS_MAX];
		memcpy(kept, st.fails, sizeof(kept));
		state_init(&st);
		/* the hour's failed authorizations still count at the CA */
		memcpy(st.fails, kept, sizeof(kept));
		st.nfails = (size_t)fails_kept;
		st.last_ok = used_type >= 0 ? used_type : -1;
	} else {
		const struct at_problem *p = at_acme_last_problem(e->acme);
		int finalized = at_acme_last_finalized(e->acme);
		int fallback = at_engine_fallback(e, rc);
		/* What the CA counts as a failed validation: an authorization that went invalid. */
		if ((rc == AT_E_AUTHZ_INVALID || (rc == AT_E_ORDER_INVALID && !finalized)) && st.nfails < FAILS_MAX)
			st.fails[st.nfails++] = now;
		long retry_after = p->retry_after > 0 ? p->retry_after : -1;
		if (now >= st.next_try || !fallback) {
			/* a new round, or the end of this one: back off */
			long d = at_backoff_delay(st.failures, now, not_after, retry_after, e->cfg.backoff_divisor);
			st.failures++;
			st.next_try = now + d;
			st.round_start = now;
			st.round_tried = 0;
		}
		st.round_tried |= fallback ? mask : ALL_TYPES;
		if (st.nfails >= FAIL_BUDGET && budget_free_at(&st) > st.next_try) {
			st.next_try = budget_free_at(&st);
			at_log_warn("%s: %zu failed validations in the last hour; the next try waits until %lld so that the "
				    "CA's limit (5 an hour at Let's Encrypt) is never reached", name, st.nfails,
				    st.next_try);
		}
		st.problem_rc = rc;
		st.problem_at = now;
		snprintf(st.problem_type, sizeof(st.problem_type), "%s", p->type ? at_problem_short_type(p) : "");
		snprintf(st.problem_detail, sizeof(st.problem_detail), "%s", p->detail ? p->detail : "");
	}
	int src = state_save(e, name, &st);
	if (src != 0)
		at_log_warn("could not keep the attempt record of %s: %s", name, at_strerror(src));
}
