/*
 * DNS-01 (RFC 8555 section 8.4) through RFC 2136 updates signed with TSIG (RFC 8945): the TXT value is added
 * at an update server (AUTOTLS_DNS_UPDATE, AUTOTLS_DNS_TSIG, AUTOTLS_DNS_ZONE), checked there until it shows
 * (dns01_wait.h), and deleted again on cleanup. See dns01_rfc2136.c.
 */
#ifndef AUTOTLS_CHALLENGE_DNS01_RFC2136_H
#define AUTOTLS_CHALLENGE_DNS01_RFC2136_H

#include "dns/tsig.h"
#include "util/err.h"

struct at_solver;

struct at_dns01_rfc2136_config {
	const char *server;     /* the update server's IP literal, no brackets */
	int port;
	struct at_tsig_key key; /* borrowed, a secret: never logged (its name is) */
	const char *zone;       /* the zone to update (no final dot); NULL: found by SOA queries at the server */
	long wait_s;            /* how long the record may take to show at the server */
};

/*
 * Fills *out with the RFC 2136 solver for *cfg. Returns 0, or AT_E_STATE (cfg, its server, key name or secret
 * is NULL) and *out is untouched. Borrows cfg (with the key's secret) as the solver's ctx: it must outlive the
 * last cleanup(). Nothing to free. present() and cleanup() block for a few seconds per update and up to wait_s
 * for the record, calling the wait hooks (wait_hooks.h) around every wait: a solver thread, never a server
 * thread.
 */
int at_dns01_rfc2136_solver(struct at_solver *out, const struct at_dns01_rfc2136_config *cfg) AT_MUST_CHECK;

#endif
