/*
 * Challenge responders for tests, each a struct at_solver the ACME client drives:
 *  - TLS-ALPN-01: a minimal OpenSSL server on 127.0.0.1:<port> (a thread) that answers a ClientHello offering
 *    exactly "acme-tls/1" for a presented name with that name's validation certificate (RFC 8737 section 3);
 *  - HTTP-01: a minimal HTTP/1.1 server on 127.0.0.1:<port> (a thread) serving
 *    /.well-known/acme-challenge/<token> with the key authorization, 404 otherwise;
 *  - DNS-01: sets and clears the TXT record through pebble-challtestsrv's management API.
 * Each counts how many times it was presented, so a test can assert which challenge was used.
 */
#ifndef AUTOTLS_TESTS_HARNESS_RESPONDERS_H
#define AUTOTLS_TESTS_HARNESS_RESPONDERS_H

#include "acme/solver.h"
#include "tests/harness/pebble.h"

struct responder; /* opaque; one per solver */

/* Starts the listener (not for DNS) and fills *solver. Returns 0 or -1. */
int responder_tls_alpn_start(struct responder **out, struct at_solver *solver, int port);
int responder_http_start(struct responder **out, struct at_solver *solver, int port);
int responder_dns_start(struct responder **out, struct at_solver *solver, struct pebble *p);

/* How many challenges were presented / how many validation requests the listener answered. */
int responder_presented(const struct responder *r);
int responder_answered(const struct responder *r);

/* Stops the listener thread and frees everything. NULL is fine. */
void responder_stop(struct responder *r);

#endif
