/*
 * The solver interface: how the caller answers challenges (RFC 8555 section 8). The ACME client picks, for each
 * pending authorization, the first offered challenge whose type has a solver, calls present() with everything
 * that challenge needs, tells the CA to validate, and calls cleanup() once the authorization is final (valid or
 * invalid), on every path. A solver never sees the account key.
 */
#ifndef AUTOTLS_ACME_SOLVER_H
#define AUTOTLS_ACME_SOLVER_H

#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

enum at_challenge_type {
	AT_CHALLENGE_TLS_ALPN_01 = 0,
	AT_CHALLENGE_HTTP_01,
	AT_CHALLENGE_DNS_01,
	AT_CHALLENGE_COUNT,
};

/* "tls-alpn-01", "http-01", "dns-01". */
const char *at_challenge_type_name(enum at_challenge_type type);
/* Returns 0 and sets *out, or AT_E_UNSUPPORTED for any other type string. */
int at_challenge_type_parse(enum at_challenge_type *out, const char *name) AT_MUST_CHECK;

/* Everything a solver may need; all members are borrowed for the duration of the call. */
struct at_challenge {
	enum at_challenge_type type;
	const char *identifier_type;   /* "dns" or "ip" */
	const char *identifier;        /* the name (without "*." for a wildcard) or the IP literal */
	int wildcard;                  /* the order asked for "*.identifier" */
	const char *token;
	const char *key_authorization; /* http-01 body */
	const char *dns_txt_name;      /* dns-01: "_acme-challenge.<identifier>" */
	const char *dns_txt_value;     /* dns-01: base64url(SHA-256(key authorization)) */
	X509 *alpn_cert;               /* tls-alpn-01: the validation certificate (RFC 8737 section 3) */
	EVP_PKEY *alpn_key;            /* tls-alpn-01: its key */
	const char *alpn_sni;          /* tls-alpn-01: the SNI the validator sends (the reverse name for IPs) */
	/* Keeps the issuance's lock alive (see at_challenge_keepalive); NULL when the caller holds none. */
	int (*keepalive)(void *ctx);
	void *keepalive_ctx;
};

/*
 * A solver whose present() waits (DNS-01: for the record to show at every authoritative server) calls this at
 * least every few seconds while it waits. It is cheap (the lease of the store's issue lock is written once a
 * third of it has gone by) and takes no lock the solver could hold. A non-zero return (AT_E_LOCKED: the lock was
 * lost, someone else is issuing now) means stop waiting and return it.
 */
int at_challenge_keepalive(const struct at_challenge *ch) AT_MUST_CHECK;

struct at_solver {
	enum at_challenge_type type;
	/* Makes the challenge answerable; returns 0 or a negative error (the challenge is then not triggered). */
	int (*present)(void *ctx, const struct at_challenge *ch);
	/* Withdraws it; errors are logged and otherwise ignored. */
	void (*cleanup)(void *ctx, const struct at_challenge *ch);
	void *ctx;
};

#endif
