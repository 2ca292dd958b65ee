/*
 * Internals shared by the files of engine/: the engine object, the pending order (pending.c) and the attempt
 * record (attempts.c). Nothing outside engine/ includes this.
 */
#ifndef AUTOTLS_ENGINE_INTERNAL_H
#define AUTOTLS_ENGINE_INTERNAL_H

#include "engine/engine.h"
#include "util/err.h"

#include <openssl/evp.h>

struct at_engine {
	struct at_engine_config cfg; /* strings borrowed from the caller's config */
	struct at_acme *acme;        /* owned */
	struct at_jws_key *account;  /* owned; NULL until at_engine_account */
	char *account_url;           /* owned */
	char ca[256];
	char account_dir[64];        /* store component for the contact */
};

/*
 * An order placed and not finished (RFC 8555 section 7.1.3), kept in the store so that the next try (after a
 * timeout, a crash, a restart, on another host sharing the store) resumes it instead of placing a new one for
 * the same names (each new order for names whose authorizations are still valid is a duplicate certificate).
 * Key: orders/<ca>/<first-name>/pending, one JSON value: the order URL, the names, the account URL and the
 * certificate key it is finalized with (secret: the store keeps every value 0600). Read and written only under
 * the names' issue lock.
 */
struct engine_pending {
	char *url;       /* owned */
	char *account;   /* owned */
	char **names;    /* owned */
	size_t nnames;
	char *key_pem;   /* owned, secret */
	size_t key_len;
};

/* AT_E_NOTFOUND when there is none; AT_E_PARSE when the value is not one (the caller drops it). */
int engine_pending_load(struct at_engine *e, const char *comp, struct engine_pending *out) AT_MUST_CHECK;
int engine_pending_save(struct at_engine *e, const char *comp, const struct engine_pending *p) AT_MUST_CHECK;
int engine_pending_drop(struct at_engine *e, const char *comp) AT_MUST_CHECK;
void engine_pending_clear(struct engine_pending *p);

/* 1 when the pending order is for exactly these names and this account. */
int engine_pending_matches(const struct engine_pending *p, const char *const *names, size_t n, const char *account);

/* The renewal plan ARI last gave for a certificate (ari_state.c): kept across restarts. */
struct engine_ari_plan {
	time_t renew_at, recheck_at;
	int from_ari;
};

/* The plan kept for rec when it is for the certificate cert_id (and sane); AT_E_NOTFOUND otherwise. */
int engine_ari_load(struct at_engine *e, const struct at_cert_record *rec, const char *cert_id,
		    struct engine_ari_plan *out) AT_MUST_CHECK;
/* Keeps p for rec (cert_id its ARI certID); a failure is logged, never fatal. */
void engine_ari_save(struct at_engine *e, const struct at_cert_record *rec, const char *cert_id,
		     const struct engine_ari_plan *p);

/* The attempt record's clock (cfg.clock or time()). */
time_t engine_now(const struct at_engine *e);

/* 1 when an order for name through solvers may start now (plan filled either way). */
int engine_attempt_allowed(struct at_engine *e, const char *name, const struct at_solver *solvers, size_t nsolvers,
			   struct at_attempt_plan *plan);

/* Records the outcome of an issuance (rc; used_type the challenge type that worked, -1 when unknown) for name:
 * the certificate in service ends at not_after (0: none), which caps the backoff. */
void engine_attempt_record(struct at_engine *e, const char *name, const struct at_solver *solvers, size_t nsolvers,
			   int used_type, int rc, time_t not_after);

/* 1 when an issuance that failed with rc leaves an order worth resuming (the CA was slow, down, or limiting us,
 * or the store refused the result); 0 when the order is spent (invalid, refused, or what it gave was wrong). */
int engine_order_resumable(int rc);

#endif
