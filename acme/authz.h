/* Authorizations and challenges (RFC 8555 sections 7.5, 7.5.1, 8): internal to acme/. */
#ifndef AUTOTLS_ACME_AUTHZ_H
#define AUTOTLS_ACME_AUTHZ_H

#include "acme/client.h"
#include "util/err.h"

struct acme_authz_work {
	char *authz_url;             /* owned */
	char *challenge_url;         /* owned, NULL when the authorization needs no challenge */
	const struct at_solver *solver; /* borrowed; set once presented */
	struct at_challenge ch;      /* points at the owned members below */
	char *identifier_type, *identifier, *token, *key_authorization, *txt_name, *txt_value, *sni; /* owned */
	X509 *alpn_cert;             /* owned */
	EVP_PKEY *alpn_key;          /* owned */
	int presented;
	int done;                    /* valid: nothing more to do */
};

/* Fetches the authorization; when it is pending, picks the first solver whose type is offered, builds what it
 * needs and presents it. Returns 0, AT_E_NO_SOLVER, AT_E_AUTHZ_INVALID, AT_E_CHALLENGE, or a request error. */
int acme_authz_prepare(struct at_acme *c, const char *authz_url, const struct at_solver *solvers, size_t nsolvers,
		       struct acme_authz_work *w) AT_MUST_CHECK;

/* Tells the CA to validate (POST {} to the challenge, section 7.5.1). */
int acme_authz_respond(struct at_acme *c, struct acme_authz_work *w) AT_MUST_CHECK;

/* Polls the authorization until it is valid (0) or invalid (AT_E_AUTHZ_INVALID, with c->problem set from the
 * challenge's error), or the deadline (monotonic ms) passes (AT_E_TIMEOUT). */
int acme_authz_wait(struct at_acme *c, struct acme_authz_work *w, long long deadline_ms)
	AT_MUST_CHECK;

/* Withdraws a presented challenge and frees w's members. */
void acme_authz_cleanup(struct acme_authz_work *w);

/* The next polling delay: fast at first, doubling to a cap; a Retry-After (seconds) wins when given. */
long acme_poll_delay_ms(int attempt, const char *retry_after, long long deadline_ms);

#endif
