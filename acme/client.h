/*
 * Internals shared by the files of acme/: the client object, the directory, the nonce pool and the request
 * layer. Nothing outside acme/ includes this.
 */
#ifndef AUTOTLS_ACME_CLIENT_H
#define AUTOTLS_ACME_CLIENT_H

#include "acme/acme.h"
#include "util/err.h"

#include <cjson/cJSON.h>

#define AT_NONCE_POOL 4
#define AT_JSON_MAX (64 * 1024) /* an ACME object is small; a bigger one is hostile */
#define AT_MAX_NAMES 100        /* Let's Encrypt's classic limit; the order is refused past it */

struct at_acme {
	char *directory_url;          /* owned */
	struct at_http_ops http;      /* owned: cleanup at free */
	long request_timeout_ms;
	long poll_timeout_ms;

	cJSON *dir;                   /* owned: the directory object; the URLs below point into it */
	const char *url_new_nonce;
	const char *url_new_account;
	const char *url_new_order;
	const char *url_revoke_cert;
	const char *url_renewal_info;
	const char *tos;
	const char *website;
	int eab_required;
	const char **profiles;        /* owned array of borrowed strings */
	size_t nprofiles;

	char *nonces[AT_NONCE_POOL];  /* owned */
	size_t nnonces;

	const struct at_jws_key *key; /* borrowed: the account key */
	char *kid;                    /* owned: the account URL */

	struct at_problem problem;    /* the last failure's problem document */
	unsigned long badnonce_retries; /* how many POSTs were signed again after badNonce */
	int finalized;                /* the last obtain sent its CSR (at_acme_last_finalized) */
	int (*keepalive)(void *ctx);  /* the running obtain's (at_acme_order_opts), NULL between */
	void *keepalive_ctx;
	long long ca_skew_s;          /* the CA's Date minus our clock at the last response that had one */
	int have_skew;
};

/* Fetches the directory once (section 7.1.1). */
int acme_directory_load(struct at_acme *c) AT_MUST_CHECK;

/* Takes a nonce from the pool, or asks newNonce (section 7.2). *out new; caller frees. */
int acme_nonce_take(struct at_acme *c, char **out) AT_MUST_CHECK;
/* Keeps a Replay-Nonce for the next request (steals it; oldest dropped when full). */
void acme_nonce_keep(struct at_acme *c, char *nonce);
void acme_nonce_clear(struct at_acme *c);

/*
 * A signed POST (section 6.2): payload is JSON text, or NULL for POST-as-GET. use_jwk selects the jwk header
 * (newAccount, revocation by certificate key) instead of kid. Retries with a fresh nonce on badNonce, waits
 * out a short Retry-After on rateLimited. Non-2xx responses become an error with c->problem set; *resp is
 * filled only on success (caller clears it).
 */
int acme_post(struct at_acme *c, const char *url, const char *payload, int use_jwk, const char *accept,
	      struct at_http_response *resp) AT_MUST_CHECK;

/* A plain GET (the directory, renewalInfo). Non-2xx is AT_E_HTTP, with a problem when one was sent. */
int acme_get(struct at_acme *c, const char *url, struct at_http_response *resp) AT_MUST_CHECK;

/* Parses a JSON object body (capped at AT_JSON_MAX). *out new; cJSON_Delete it. */
int acme_json_body(cJSON **out, const struct at_http_response *resp) AT_MUST_CHECK;

/* Notes the CA's clock from a response's Date header (see at_acme_clock_skew). */
void acme_note_date(struct at_acme *c, const struct at_http_response *resp);

/* Sleeps for ms milliseconds (the manager's thread only: never on a server thread), through the HTTP wait hooks
 * (at_http_set_wait_hooks: the manager releases its fork-quiesce lock there, so that a host's fork() never waits
 * out a Retry-After), calling the running obtain's keepalive between slices of a second: 0, or the keepalive's
 * code to stop with. */
int acme_sleep_ms(struct at_acme *c, long ms) AT_MUST_CHECK;

/* The running obtain's keepalive: 0, or the code to stop with. */
int acme_keepalive(struct at_acme *c) AT_MUST_CHECK;

/* RFC 3339 timestamp to unix seconds. Returns 0 or AT_E_PARSE. */
int acme_parse_time(time_t *out, const char *s) AT_MUST_CHECK;

/* The member as a string, or NULL. Borrowed. */
const char *acme_json_str(const cJSON *obj, const char *member);

#endif
