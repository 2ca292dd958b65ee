/*
 * The RFC 8555 client. It knows nothing of the shim or the store: the caller hands it an account key, names,
 * solvers and options, and gets back a chain and a key (or an error with the CA's problem document).
 *
 * One struct at_acme talks to one CA (one directory URL) through one HTTP seam. It is not thread-safe: one
 * thread drives it at a time. Every request has a timeout and a body cap; every POST is retried with a fresh
 * nonce on badNonce (section 6.5) and waits out Retry-After on rateLimited (section 6.6) within the caller's
 * deadline; polling (section 7.5.1) starts fast and backs off, honouring Retry-After.
 */
#ifndef AUTOTLS_ACME_ACME_H
#define AUTOTLS_ACME_ACME_H

#include "acme/http.h"
#include "acme/jws.h"
#include "acme/problem.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/keys.h"

#include <stddef.h>
#include <time.h>

struct at_acme;

struct at_acme_config {
	const char *directory_url;     /* required */
	const char *ca_file;           /* extra roots for TLS to the CA (a test CA); NULL: system roots only */
	const struct at_http_ops *http; /* NULL: libcurl (the struct is copied; its cleanup runs at free) */
	long request_timeout_ms;       /* per request; 0: 15 s */
	long poll_timeout_ms;          /* per wait for an authorization or an order; 0: 120 s */
	const char *user_agent;        /* NULL: "libautotls/<version>" */
};

/* Returns 0, AT_E_INVAL, AT_E_NOMEM. Nothing is fetched yet. Caller frees with at_acme_free. */
int at_acme_new(struct at_acme **out, const struct at_acme_config *cfg) AT_MUST_CHECK;
void at_acme_free(struct at_acme *c);

/* The problem document of the last failure (type NULL when the last failure had none). Borrowed. */
const struct at_problem *at_acme_last_problem(const struct at_acme *c);

/* Clears the last problem and sets its retry_after (seconds, -1: none): for a caller that decides not to ask the
 * CA now and reports the wait the same way as the CA's own Retry-After. */
void at_acme_problem_reset(struct at_acme *c, long retry_after);

/* How many requests were signed again after a badNonce (section 6.5) since the client was made. */
unsigned long at_acme_badnonce_retries(const struct at_acme *c);

/* How far the CA's clock is ahead of ours (negative: behind), in seconds, from the Date header of the last
 * response that had one (RFC 9110 section 6.6.1; one-second resolution plus the network's delay). Returns 0, or
 * AT_E_NOTFOUND when no response had a Date yet. */
int at_acme_clock_skew(const struct at_acme *c, long *skew_s) AT_MUST_CHECK;

/* What the directory offers (fetched on first use, section 7.1.1). Borrowed strings, NULL when absent. */
struct at_acme_directory_info {
	const char *terms_of_service;
	const char *website;
	const char *renewal_info;           /* RFC 9773 section 4 */
	int eab_required;                   /* meta.externalAccountRequired */
	const char *const *profiles;        /* draft-ietf-acme-profiles: meta.profiles names */
	size_t nprofiles;
};
int at_acme_directory(struct at_acme *c, struct at_acme_directory_info *out) AT_MUST_CHECK;

struct at_acme_account_opts {
	const char *email;        /* NULL: no contact */
	int agree_tos;            /* termsOfServiceAgreed */
	const char *eab_kid;      /* External Account Binding (section 7.3.4), both or neither */
	const char *eab_hmac_key; /* base64url */
	int only_existing;        /* onlyReturnExisting (section 7.3.1): find, never create */
};

/*
 * Finds or creates the account for key (borrowed: it must outlive c or the next at_acme_account call) and
 * makes it the signer of every later request. *account_url (may be NULL) gets a new copy of the account URL.
 * Returns 0, AT_E_NO_ACCOUNT (only_existing and none), AT_E_EAB_REQUIRED, or another error.
 */
int at_acme_account(struct at_acme *c, const struct at_jws_key *key, const struct at_acme_account_opts *opts,
		    char **account_url) AT_MUST_CHECK;

/* Uses a known account without asking the CA (the URL came from the store). kid is copied. */
int at_acme_use_account(struct at_acme *c, const struct at_jws_key *key, const char *kid)
	AT_MUST_CHECK;

struct at_acme_order_opts {
	const char *const *names;        /* DNS names ("*.x" for a wildcard) and IP literals (RFC 8738) */
	size_t nnames;
	enum at_key_type key_type;       /* for a fresh certificate key */
	EVP_PKEY *cert_key;              /* borrowed; NULL: generate one of key_type */
	const struct at_solver *solvers; /* tried in this order for each authorization */
	size_t nsolvers;
	const char *preferred_chain;     /* issuer CN of the chain's top certificate; NULL: the default chain */
	const char *profile;             /* draft-ietf-acme-profiles; sent only when the directory lists it */
	int profile_required;            /* fail (AT_E_UNSUPPORTED) when the directory does not list it */
	int must_staple;                 /* the CSR asks for TLS Feature status_request (RFC 7633) */
	const char *replaces;            /* RFC 9773 section 5: the ARI certID of the certificate this renews */
	/* An order placed earlier (its URL, section 7.1.3) to continue instead of placing a new one: from wherever
	 * it stands (pending: authorize; ready: finalize; processing: wait; valid: download). cert_key must then be
	 * the key it was (or will be) finalized with. When the CA no longer has it, refuses it or it is invalid, a
	 * new order is placed (and on_order told). */
	const char *resume_url;
	/* Called once a new order's URL is known, before any challenge or finalize, so that the caller can keep it
	 * (with cert_key) and resume it after a crash or a timeout. Non-zero stops the issuance with that code. */
	int (*on_order)(void *ctx, const char *order_url);
	void *on_order_ctx;
	/* Called at every step and every poll of the issuance, about every second of a request that waits for the
	 * CA (at_http_request's during hook), and handed to the solvers (at_challenge_keepalive), so that the
	 * caller can keep its lock's lease alive without a thread. Non-zero (but inside a request, where the next
	 * step acts on it) stops the issuance with that code. NULL: none. */
	int (*keepalive)(void *ctx);
	void *keepalive_ctx;
};

struct at_acme_cert {
	char *chain_pem;  /* owned: leaf first */
	size_t chain_len;
	char *key_pem;    /* owned, secret: free with at_acme_cert_clear */
	size_t key_len;
	char *cert_url;   /* owned */
	int replaces_dropped; /* the CA refused "replaces" and the order was placed again without it */
	enum at_challenge_type used[AT_CHALLENGE_COUNT]; /* which challenge types were answered, count in nused */
	size_t nused;
};

/* Orders (or resumes), answers the challenges through the solvers, finalizes, downloads. Each wait (for an
 * authorization, for the order to be ready, for it to be valid) has its own poll_timeout_ms, counted from its own
 * start: a DNS-01 solver's wait for its record does not eat into them. A Retry-After beyond the time left ends
 * the wait at once with AT_E_TIMEOUT and the CA's delay in at_acme_last_problem()->retry_after. Returns 0 or an
 * error, with at_acme_last_problem() telling the CA's side and at_acme_last_finalized() how far it got. */
int at_acme_obtain(struct at_acme *c, const struct at_acme_order_opts *opts, struct at_acme_cert *out)
	AT_MUST_CHECK;
void at_acme_cert_clear(struct at_acme_cert *cert);

/* 1 when the last at_acme_obtain got as far as finalizing (the CSR was sent, or the resumed order was already
 * processing or valid): the certificate may be issued whatever happens next, so another challenge type must not
 * place another order for it (that would be a duplicate certificate). */
int at_acme_last_finalized(const struct at_acme *c);

/* Revokes a certificate (section 7.6) with the account key. reason: RFC 5280 CRLReason, -1 to omit.
 * Returns 0, AT_E_ALREADY_REVOKED, or another error. */
int at_acme_revoke(struct at_acme *c, const char *cert_pem, size_t len, int reason) AT_MUST_CHECK;

/* ARI (RFC 9773). */
struct at_ari_window {
	time_t start;
	time_t end;
	long retry_after;      /* seconds until the next poll the CA asks for; -1 when it did not say */
	char *explanation_url; /* owned, may be NULL */
};

/* The RFC 9773 section 4.1 certificate identifier: base64url(AKI keyIdentifier) "." base64url(serial DER
 * value bytes). *out new; caller frees. AT_E_PARSE when the certificate has no AKI. */
int at_ari_cert_id(char **out, const char *leaf_pem, size_t len) AT_MUST_CHECK;

/* Parses a renewalInfo response body (RFC 9773 section 4.2). Returns 0 or AT_E_PARSE (end before start too). */
int at_ari_parse(struct at_ari_window *w, const char *json, size_t len) AT_MUST_CHECK;
void at_ari_window_clear(struct at_ari_window *w);

/* Fetches the window for cert_id. AT_E_UNSUPPORTED when the directory has no renewalInfo. */
int at_acme_renewal_info(struct at_acme *c, const char *cert_id, struct at_ari_window *out)
	AT_MUST_CHECK;

/* A uniformly random time within the window (RFC 9773 section 4.2); rnd is a random 32-bit value. */
time_t at_ari_pick(const struct at_ari_window *w, unsigned rnd);

#endif
