/*
 * A hostile CA for tests: a small HTTPS server on 127.0.0.1 (threads, OpenSSL, a throwaway CA from certgen.h)
 * that speaks just enough RFC 8555 to carry the real client (acme/ over libcurl) to one point of an issuance and
 * then misbehaves there in a selected way. The good path: directory, newNonce, newAccount, newOrder ("ready"),
 * an authorization already "valid", finalize ("processing"), the order "valid", the certificate (a leaf for the
 * CSR's key and names, signed by the throwaway CA, then that CA). Nothing is validated: JWS signatures and
 * nonces are taken on trust; the CSR is parsed only to learn the key, the names and whether it asks for
 * must-staple (RFC 7633: a leaf that names a responder, hostile_ca_set_ocsp, then carries the TLS Feature). What a CA in production
 * offers beyond Debian's Pebble (ARI, profiles, 503 and rateLimited new orders) is in hostile_acme.h.
 *
 * A second listener on 127.0.0.2 is the redirect target: it counts the connections it is offered and hangs up.
 * Every body the server streams (50 MB, a slow drip) comes from a small fixed buffer, never from memory the
 * size of the body, so the test process's RSS measures the client alone.
 */
#ifndef AUTOTLS_TESTS_HARNESS_HOSTILE_CA_H
#define AUTOTLS_TESTS_HARNESS_HOSTILE_CA_H

#include <limits.h>

enum hostile_mode {
	HC_GOOD = 0,
	HC_MALFORMED_JSON,     /* newOrder: 201 with a truncated JSON object */
	HC_HUGE_LENGTH,        /* certificate: 50 MB with Content-Length */
	HC_HUGE_CHUNKED,       /* certificate: 50 MB chunked */
	HC_HUGE_CLOSE,         /* certificate: 50 MB delimited by closing the connection */
	HC_HTML_DIRECTORY,     /* directory: 200 text/html, an HTML page */
	HC_JSON_CERT,          /* certificate: the good PEM chain labelled application/json */
	HC_REDIRECT,           /* certificate: 302 to https://127.0.0.2:<port2>/cert/1 (which would serve it) */
	HC_SLOW_DRIP,          /* finalize: headers, then one body byte per second, forever */
	HC_OTHER_NAMES,        /* certificate: the CSR's key, but for other.example.test */
	HC_OTHER_KEY,          /* certificate: the CSR's names, but another key */
	HC_CHAIN_GARBAGE,      /* certificate: the good leaf, then a PEM block of garbage */
	HC_CHAIN_UNLINKED,     /* certificate: the good leaf, then an unrelated CA certificate (not its issuer) */
	HC_SELF_ISSUED,        /* certificate: a leaf for the CSR's key and names, issuer = subject, bad signature */
	HC_ENDLESS_PROCESSING, /* finalize and every order poll: "processing", Retry-After: 0 */
	HC_MANY_AUTHZ,         /* newOrder: 1000 authorization URLs */
	HC_HUGE_PROBLEM,       /* newOrder: 400 problem+json, a 100 KB detail with control characters */
	HC_PROBLEM_CONTROL,    /* newOrder: 400 problem+json, a 20 KB detail with control characters (parses) */
	/* Not hostile, but what CAs do in production (issue 15): */
	HC_HOLD_PROCESSING,    /* the order stays "processing" (Retry-After: 1, or as set) for hold_ms after the first
			        * finalize */
	HC_CLOCK_AHEAD,        /* the CA's clock is an hour ahead: Date headers, and notBefore a minute before its now */
	HC_AUTHZ_FAILS,        /* newOrder: "pending", the authorization pending with http-01, dns-01 and tls-alpn-01;
			        * a challenge answered turns it (and the order) invalid, as a validation that fails */
	HC_RATE_LIMITED,       /* newOrder: 429 rateLimited with Retry-After (hold_retry_after_s, as set) */
	HC_MODE_COUNT
};

/* What the server received since the mode was last set. */
struct hostile_counts {
	int directory, nonce, account, new_order, authz, finalize, order_polls, cert;
	int challenges;       /* challenge POSTs (HC_AUTHZ_FAILS) */
	int authz_failed;     /* authorizations turned invalid (HC_AUTHZ_FAILS) */
	int issued;           /* certificates made (a finalize the CA accepted) */
	int other;            /* requests for anything else */
	int connections;      /* accepted on 127.0.0.1 */
	int redirect_target;  /* connections offered to the 127.0.0.2 listener */
	long long streamed;   /* body bytes the huge and drip modes got into the socket */
};

struct hostile_ca;

/* Starts both listeners (ephemeral ports) and writes the throwaway CA to <workdir>/hostile-ca.pem. 0 or -1. */
int hostile_ca_start(struct hostile_ca **out, const char *workdir);

/* https://127.0.0.1:<port>/dir. Borrowed. */
const char *hostile_ca_directory_url(const struct hostile_ca *h);

/* The PEM file of the throwaway CA that signs the listener certificates (and the good leaves). Borrowed. */
const char *hostile_ca_ca_file(const struct hostile_ca *h);

/* Selects how the server misbehaves from the next request on, and zeroes the counts. */
void hostile_ca_set_mode(struct hostile_ca *h, enum hostile_mode mode);

/* HC_HOLD_PROCESSING: how long the order stays "processing" after the first finalize of the mode (default 3 s). */
void hostile_ca_set_hold_ms(struct hostile_ca *h, long ms);

/* HC_HOLD_PROCESSING: the Retry-After (seconds) of an order poll answered "processing"; HC_RATE_LIMITED: of the
 * refused newOrder (default 1). */
void hostile_ca_set_hold_retry_after(struct hostile_ca *h, long s);

void hostile_ca_counts(struct hostile_ca *h, struct hostile_counts *out);

/* OCSP (issue 14): from now on every good leaf names url as its OCSP responder (AIA) and is appended to
 * index_path (created when missing) as valid, in openssl ca's index format, so that `openssl ocsp -index` answers
 * for it. 0 or -1. */
int hostile_ca_set_ocsp(struct hostile_ca *h, const char *url, const char *index_path);

/* Writes the throwaway CA's private key (PKCS#8 PEM, 0600, exclusive create) to path, for a responder that signs
 * as the CA. 0 or -1. */
int hostile_ca_write_key(const struct hostile_ca *h, const char *path);

const char *hostile_mode_name(enum hostile_mode mode);

/* Stops every thread (streams and drips included) and frees everything. NULL is fine. */
void hostile_ca_stop(struct hostile_ca *h);

#endif
