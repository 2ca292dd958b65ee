/*
 * Killing the tree's manager process while a client loops (test_306, test_307; issue 9, acceptance 2): Pebble
 * issues 16-second certificates (renewed when half is left, every ~8 s); a client makes a verified full
 * handshake every 20 ms, a new connection each time; at a chosen moment the manager (found through /proc by
 * the store in its environment) gets SIGKILL. Within 10 s another manager must lead (a new autotls-manager
 * process, or the log naming the pid that manages now), the tree must say once that the manager is gone, the
 * certificate must keep renewing, and no handshake may fail.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_TAKEOVER_H
#define AUTOTLS_TESTS_HARNESS_SHIM_TAKEOVER_H

#include "tests/harness/shim_env.h"

#include <sys/types.h>

#define TAKEOVER_LIMIT_MS 10000

/* Pebble's certificate lifetime here: short to keep make test short (two renewals take one lifetime), long enough
 * that a new leader found within TAKEOVER_LIMIT_MS of a kill still has time to renew before the certificate ends
 * (the kill comes 3 s into a lifetime, the renewal is due half-way through it). */
#define TAKEOVER_VALIDITY_S 16

/* Pebble for these tests: TAKEOVER_VALIDITY_S-second certificates, its default authorization reuse. */
extern const struct pebble_opts takeover_pebble;

struct takeover {
	pid_t killed;        /* the manager killed */
	pid_t next;          /* the manager process that took over (0: an in-process leader did) */
	long takeover_ms;    /* from the kill to the log's "managing certificates in pid" line of the next leader */
	int handshakes, failures;
	int serials_before, serials_after; /* certificates seen before and after the kill */
};

/* The one live manager process of e's store, waiting up to ms for it. 0 when none (or several). */
pid_t takeover_manager(const struct shim_env *e, long ms);

/* SIGKILLs the manager process of e's store; its pid, or 0. Not reaped here: whether it is a zombie (our child,
 * when we are a subreaper) or reaped by init, the tree must notice alike. */
pid_t takeover_kill(const struct shim_env *e, struct takeover *t);

/* After the kill: the next leader, found once the log names it. */
void takeover_watch(const struct shim_env *e, struct takeover *t, long killed_at);

/*
 * Loops verified handshakes until `renewals` certificates were seen after the kill, or limit_ms passed. The
 * kill comes kill_at_ms after the loop starts, or (kill_at_ms < 0) after the first renewal.
 */
void takeover_loop(struct shim_env *e, long kill_at_ms, int renewals, long limit_ms, struct takeover *t);

/* What every takeover must show: one "is gone" line for the killed manager, a new leader within the limit,
 * renewals after it, no failed handshake. */
void takeover_check(const struct shim_env *e, const struct takeover *t, int renewals);

/* Stops the server; then no manager process of its store may be left (within 5 s). */
void takeover_stop_check(struct shim_env *e);

#endif
