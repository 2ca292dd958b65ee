/*
 * The engine: acme/ and store/ put together, which both the shim's manager and the command-line tool use.
 *
 * It keeps the account (key and URL) in the store, so a second run reuses it; before ordering it looks in the
 * store and orders nothing for names whose certificate is valid and not yet due; it takes the store's per-name
 * lock around an issuance so that processes and hosts sharing one store order each certificate once; and it
 * saves the result through the store's stage-check-promote path. It never runs on a server thread: it blocks
 * on the network.
 */
#ifndef AUTOTLS_ENGINE_ENGINE_H
#define AUTOTLS_ENGINE_ENGINE_H

#include "acme/acme.h"
#include "store/certs.h"
#include "store/store.h"
#include "util/err.h"

#include <time.h>

struct at_engine;

struct at_engine_config {
	const char *directory_url;       /* required */
	const char *ca_file;             /* extra roots for TLS to the CA */
	const char *email;               /* account contact, may be NULL */
	const char *eab_kid;             /* External Account Binding, both or neither */
	const char *eab_hmac_key;
	enum at_key_type key_type;       /* certificate keys */
	enum at_key_type account_key_type; /* the account key, when one is made */
	struct at_store *store;          /* borrowed */
	const struct at_http_ops *http;  /* NULL: libcurl */
	long poll_timeout_ms;            /* 0: the client's default */
	long request_timeout_ms;         /* per request; 0: the client's default (15 s) */
	const char *preferred_chain;
	const char *profile;
	int profile_required;            /* a CA that does not list profile is refused before any order
					  * (AT_E_UNSUPPORTED); without it, it orders without a profile */
	int must_staple;                 /* CSRs ask for must-staple (RFC 7633; AUTOTLS_MUST_STAPLE) */
	/* With guard_attempts, at_engine_ensure refuses (AT_E_BACKOFF, the wait in the last problem's retry_after)
	 * an order the attempt record does not allow now (see at_engine_attempt_plan): a restarted process never
	 * starts from zero. Without it the record is still kept, for the caller to ask. */
	int guard_attempts;
	long backoff_divisor;            /* the test time scale (AUTOTLS_TEST_BACKOFF_SCALE; also ARI's own recheck
					  * periods, never the CA's Retry-After); 0 or 1: none */
	int ari_read_only;               /* the CA's ARI answer kept in the store is followed but never written (a
					  * command that only looks, as `autotls status`, must not write the store) */
	time_t (*clock)(void);           /* the attempt record's clock; NULL: time() (tests move time with it) */
	int issue_lease_s;               /* the issue lock's lease, kept alive while held; 0: 300 s */
	/* Called at every step and poll of an issuance and about every second while waiting for the issue lock
	 * (NULL: never): the caller keeps a lease of its own alive meanwhile (the shim's fleet lock on etcd, which
	 * its loop renews only between rounds). Its outcome is the caller's; the engine does not look at it. */
	void (*hold_hook)(void *ctx);
	void *hold_hook_ctx;
};

int at_engine_new(struct at_engine **out, const struct at_engine_config *cfg) AT_MUST_CHECK;
void at_engine_free(struct at_engine *e);

/* The ACME client the engine drives (for revocation, ARI). Borrowed. */
struct at_acme *at_engine_acme(struct at_engine *e);

/* Loads the account from the store (or creates it and stores it) and makes sure the CA knows it.
 * *url (may be NULL) gets a new copy of the account URL. */
int at_engine_account(struct at_engine *e, char **url) AT_MUST_CHECK;

/* The store component for this engine's CA. Borrowed. */
const char *at_engine_ca(const struct at_engine *e);

/*
 * Makes sure the store holds a valid certificate for names (normalised; the first is the record's name) that
 * is not due for renewal; orders one through the solvers when it does not (or when force is set), under the
 * store's issue lock for the names. An order that did not finish (a wait ran out, the CA was down, the process
 * died) is kept in the store with its certificate key and resumed by the next call for the same names, from
 * any process or host sharing the store, instead of placing a new one. *ordered tells whether a certificate was
 * obtained. rec (may be NULL) gets the live record. Returns 0 or an error, with
 * at_acme_last_problem(at_engine_acme(e)) holding the CA's side and at_engine_fallback() telling whether another
 * challenge type may be tried.
 */
int at_engine_ensure(struct at_engine *e, const char *const *names, size_t nnames, const struct at_solver *solvers,
		     size_t nsolvers, int force, struct at_cert_record *rec, int *ordered)
	AT_MUST_CHECK;

/* 1 when rec covers exactly names, is valid at now and is not due for renewal: the check at_engine_ensure
 * makes before it orders (for a caller that holds records of several CAs and picks among them). */
int at_engine_record_current(const struct at_cert_record *rec, const char *const *names, size_t nnames, time_t now);

/*
 * The attempt record (engine/attempts.c): at_engine_ensure keeps, in the store, per name set, the failed tries
 * (the backoff's step and the next try, the CA's Retry-After included), the failed authorizations of the last
 * hour, the round of challenge types under way, the type that last worked and the last problem. Before a round,
 * a caller asks which types it may try now and in which order:
 *   - after the next try: every offered type (a new round), the one that last worked first;
 *   - before it, while the round that failed is open (an hour): the offered types it has not tried yet;
 *   - never more types than the hour's budget of failed authorizations has room for (4 an hour, one short of
 *     Let's Encrypt's limit of 5 per identifier per account), and none once it is spent;
 *   - nothing after a failure that is not the challenge's (the CA down or limiting us, a timeout, a failure
 *     after finalize): the round is over until the next try.
 * When nothing may be tried, next_try says when to ask again.
 */
struct at_attempt_plan {
	int now_ok;                                      /* something may be tried now */
	enum at_challenge_type order[AT_CHALLENGE_COUNT]; /* the types to try now, in this order */
	size_t norder;
	time_t next_try;                                 /* now when now_ok, else when to ask again */
	int failures;                                    /* failed rounds in a row */
	int failed_authz_hour;                           /* failed authorizations in the last hour */
	char last_problem[400];                          /* the last failure, "" when none: for a log line */
	time_t last_problem_at;                          /* when it happened, 0 when none */
};

/* The plan for names (the first names the record) given the types the caller can answer (offered, in its
 * preferred order). Reads the store only. Returns 0 or AT_E_INVAL. */
int at_engine_attempt_plan(struct at_engine *e, const char *const *names, size_t nnames,
			   const enum at_challenge_type *offered, size_t noffered, struct at_attempt_plan *out)
	AT_MUST_CHECK;

/* The same record read without an engine, for the operators' command (tools/autotls): name's record under the
 * store's CA component ca (a folder of attempts/), nothing offered (order empty). Reads the store only. 0 or
 * AT_E_INVAL; an absent or unreadable record reads as a fresh one. */
int at_attempt_plan_read(struct at_store *store, const char *ca, const char *name, time_t now,
			 struct at_attempt_plan *out) AT_MUST_CHECK;

/*
 * Whether an at_engine_ensure that failed with rc should be tried again at once through another challenge type:
 * only when the challenge itself failed (the authorization or the order went invalid, no solver matched, the
 * solver could not present) and the issuance had not reached finalize. A timeout is not a failed challenge (the
 * order is kept and resumed next time), nor is the CA being down or limiting us.
 */
int at_engine_fallback(struct at_engine *e, int rc);

/*
 * When a certificate should be renewed without ARI (Let's Encrypt's integration guide): when a third of its
 * lifetime is left, or half for certificates of under ten days. jitter_s (>= 0) moves it earlier by up to that.
 */
time_t at_renewal_time(time_t not_before, time_t not_after, unsigned rnd, long jitter_s);

/*
 * Seconds to wait before the next try after a failed one: 1 min, 10 min, 100 min, then daily (failures counts
 * the failed tries before this one, 0 for the first), never more than an eighth of the time until not_after (the
 * certificate in service; 0 when there is none) but at least a minute, divided by divisor (a test's time scale,
 * AUTOTLS_TEST_BACKOFF_SCALE; 0 or 1: none), and never less than the CA's retry_after (seconds, -1: none).
 */
long at_backoff_delay(int failures, time_t now, time_t not_after, long retry_after, long divisor);

/* Sets rec->renew_after to the renewal time the CA's window (ARI) last gave for this very certificate, kept in
 * the store by at_engine_renewal_plan; nothing when there is none. A record loaded after a restart is then
 * current until the CA's time, not the lifetime rule's. */
void at_engine_ari_apply(struct at_engine *e, struct at_cert_record *rec);

/* The earliest time a certificate is renewed without ARI asking: a tenth of its lifetime after notBefore. */
time_t at_renewal_floor(time_t not_before, time_t not_after);

/*
 * When to renew rec: with ARI (RFC 9773) offered by the CA, a random time in the suggested window (section 4.2,
 * also when the window has begun; a time already past means now), earlier or later than the lifetime rule but
 * never later than a twentieth of the lifetime before notAfter, and *recheck_at when to ask again (the CA's
 * Retry-After, else six hours, as Let's Encrypt asks clients to poll at least twice a day); the window's
 * explanationURL is logged. Without ARI, the lifetime rule and *recheck_at = *renew_at. *from_ari tells which
 * decided (the caller forces the renewal then: the lifetime rule alone would not see it due).
 */
int at_engine_renewal_plan(struct at_engine *e, const struct at_cert_record *rec, unsigned rnd, time_t *renew_at,
			   time_t *recheck_at, int *from_ari) AT_MUST_CHECK;

#endif
