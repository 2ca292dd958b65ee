/*
 * HTTP-01 (RFC 8555 section 8.3), in one of two modes chosen by the configuration:
 *
 * - built-in responder (http01_responder.c): the first present() binds the port on [::] (dual-stack) or
 *   0.0.0.0 and starts a thread that answers GET /.well-known/acme-challenge/<token> for pending tokens; the
 *   last cleanup() stops it and closes the port, so the port is the host's again. A port in use (the host serves
 *   plain HTTP itself) is not taken from anyone: present() fails and the client falls back to another challenge
 *   type. With redirect set, every other request gets a 301 to https://<Host><path>.
 * - webroot (http01_webroot.c): present() writes <webroot>/.well-known/acme-challenge/<token>; the host's own
 *   web server answers the validator; cleanup() removes the file and the folders it created once empty.
 *
 * http01.c holds what the two share: the table of pending tokens, the checks of what the CA sent, the choice of
 * mode and the fork reset. The request parser is http01_request.h.
 *
 * One responder per process: the tokens pending, the thread and the port are the process's, whatever
 * configuration a later present() names. Every call here runs on one thread at a time (the caller's solver
 * thread); the responder thread only reads the token table under its mutex and never touches OpenSSL, libcurl
 * or a store. After fork the child forgets the table and closes its copies of the listening sockets (a forked
 * worker must not keep port 80 open); the parent's files and port stay the parent's.
 */
#ifndef AUTOTLS_CHALLENGE_HTTP01_H
#define AUTOTLS_CHALLENGE_HTTP01_H

#include "util/err.h"

#include <stddef.h>

struct at_solver;

#define AT_HTTP01_MAX_CONNS 32 /* connections the responder reads at once; more wait in the listen backlog */

struct at_http01_config {
	int port;             /* the built-in responder's port, 1..65535 (AUTOTLS_HTTP_PORT) */
	int redirect;         /* 1: the responder answers every other request with a 301 to https:// */
	const char *webroot;  /* NULL: the built-in responder; else a folder (AUTOTLS_WEBROOT): files under it */
	long read_timeout_ms; /* how long the responder waits for a request head, from accept; 0: 5000 */
};

/*
 * Fills *out with the HTTP-01 solver for *cfg: webroot mode when cfg->webroot is set, else the built-in
 * responder on cfg->port. Returns 0 when HTTP-01 can be offered; else a negative error and *out is untouched
 * (the reason is logged at info, once per reason): AT_E_NOTFOUND (the webroot is not a folder), AT_E_PERM (the
 * webroot is not writable, or this user may not bind the port), AT_E_STATE (cfg is NULL). A port that is merely
 * in use now is not a reason: present() then fails with AT_E_NET and the client goes on to another type.
 * Borrows cfg (and its webroot) as the solver's ctx: it must outlive the last cleanup(). Nothing to free.
 */
int at_http01_solver(struct at_solver *out, const struct at_http01_config *cfg) AT_MUST_CHECK;

/* What is pending and open now (for tests and diagnostics). */
struct at_http01_state {
	size_t pending; /* tokens presented and not cleaned up yet, in either mode */
	int listening;  /* 1 while the built-in responder runs and holds its port */
};
void at_http01_get_state(struct at_http01_state *out);

#endif
