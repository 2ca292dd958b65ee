/*
 * The fleet: one leader for every host that shares an etcd store (shim/manager/fleet.c), and the watch that
 * tells a follower a certificate changed in the store (shim/manager/fleet_watch.c). Nothing here applies to a
 * folder store: there the tree's fcntl lock on <state>/manager.lock is the whole election, as before.
 */
#ifndef AUTOTLS_SHIM_MANAGER_FLEET_H
#define AUTOTLS_SHIM_MANAGER_FLEET_H

#include "acme/solver.h"
#include "util/err.h"

#include <stddef.h>

#include <stdbool.h>
#include <pthread.h>

struct at_store;
struct at_solver;

/* The fleet lock's lease (seconds): a leader that dies is replaced this long after its last keepalive. */
#define MGR_FLEET_LEASE_S 6
/* How often a leader renews it (from its loop's one-second ticks) and a follower asks for it. */
#define MGR_FLEET_KEEP_MS 1000
#define MGR_FLEET_TRY_MS 2000
/* A follower whose manager process watches the fleet lock's key (fleet_watch.c) tries when the key is deleted,
 * and otherwise only this often (a safety net); without that watch, every MGR_FLEET_TRY_MS. */
#define MGR_FLEET_TRY_WATCHED_MS 30000
/* The fleet lock's store lock name (fleet.c takes it; fleet_watch.c watches its key). */
#define MGR_FLEET_LOCK "manager"

/* true when AUTOTLS_STORAGE is an etcd store: the election is the fleet lock as well as the local one. */
bool mgr_fleet_on(void);

/* true on the thread that holds the fleet lock (the manager thread of the fleet's leader), false on every other
 * thread: only the fleet leader's own rounds publish challenges through the store. On-demand, the sites pool
 * and the stapler's re-order run on threads of their own in every host's manager process, followers too; their
 * challenges are answered by this host alone (and fleet.c's store object is the manager thread's). */
bool mgr_fleet_publishes_here(void);

/* Tries once for the fleet lock (its own store object, opened on first use and kept). 0 when this process now
 * leads the fleet; AT_E_LOCKED when another host does; another error when etcd cannot be asked (logged once). */
int mgr_fleet_try_lead(void) AT_MUST_CHECK;

/* Called by the leader every second or so: renews the lease every MGR_FLEET_KEEP_MS. 0 while the lead is ours;
 * AT_E_LOCKED when it is lost (the lease ended and another host may lead: stop leading now). etcd unreachable
 * counts as ours until the lease would have ended. */
int mgr_fleet_keep(void) AT_MUST_CHECK;

/* Gives the fleet lock up (the lease revoked: the next host may lead at once). */
void mgr_fleet_release(void);

/* The fleet's own store object (opened on first use; NULL when etcd cannot be reached now). Writes through it
 * compare the fleet lock while it is held: a leader whose lease ended cannot write. */
struct at_store *mgr_fleet_store(void);

/* A clean exit gives the fleet's locks back (fleet_exit.c): mgr_fleet_exit_add registers an etcd store object
 * (borrowed; another backend is never touched) whose locks this process gives back when it leaves, and
 * mgr_fleet_exit_remove takes it out again before it is closed; mgr_fleet_leave, from the thread that is ending
 * the process (tree_watch.c; thread_life.c at exit()), revokes every lease they hold, bounded (fleet_exit.c), so
 * the next host leads (and orders) at once instead of after the leases. */
void mgr_fleet_exit_add(struct at_store *s);
void mgr_fleet_exit_remove(struct at_store *s);
void mgr_fleet_leave(void);

/* The leader's engines on etcd (fleet_issue.c): the issue lock's lease (seconds; renewed by the engine at every
 * step once a third has gone by), and the fleet lock renewed at every step of an issuance and every second of a
 * wait for the issue lock. Nothing on a folder store. */
#define MGR_FLEET_ISSUE_LEASE_S (2 * MGR_FLEET_LEASE_S)
struct at_engine_config;
void mgr_fleet_engine_config(struct at_engine_config *ec);

/* Distributed challenge solving (fleet_challenges.c). The leader puts each TLS-ALPN-01 challenge certificate
 * under <PREFIX>/challenges/tls-alpn-01/<sni> as it presents it (and waits MGR_FLEET_SETTLE_MS so that every
 * follower has published it before the CA is told to validate), and deletes it at cleanup; every follower's
 * manager process publishes what is there into its own region and withdraws what is gone, so whichever host
 * the CA reaches answers. */
#define MGR_FLEET_SETTLE_MS 700
int mgr_fleet_challenge_put(const char *sni, const char *chain, size_t chain_len, const char *key, size_t key_len)
	AT_MUST_CHECK;
void mgr_fleet_challenge_del(const char *sni);
void mgr_fleet_challenges_follow(void);

/* A leader's solver wrapped so that its challenges also go through the store (fleet_wrap.c): the inner solver
 * (this host's own) kept in w, the wrapper's present and cleanup set in s with w as their ctx. */
struct mgr_fleet_wrap {
	pthread_mutex_t mu;
	struct at_solver inner;
};
#define MGR_FLEET_WRAP_INIT { PTHREAD_MUTEX_INITIALIZER, { 0 } }
void mgr_fleet_wrap_set(struct mgr_fleet_wrap *w, struct at_solver *s, int (*present)(void *, const struct at_challenge *),
			void (*cleanup)(void *, const struct at_challenge *));
/* A copy of w's inner solver. */
struct at_solver mgr_fleet_wrap_inner(struct mgr_fleet_wrap *w);

/* Distributed HTTP-01 and DNS-01 (fleet_http01.c, fleet_dns01.c, fleet_takeover.c). On etcd, mgr_challenges wraps
 * the HTTP-01 solver so that the leader also puts each token's key authorization under
 * <PREFIX>/challenges/http-01/<hex SHA-256 of the token> (then waits MGR_FLEET_SETTLE_MS) and deletes it at
 * cleanup; every follower's manager process answers what is there from its own responder (or webroot) and
 * withdraws what is gone. The DNS-01 solver is wrapped so that each TXT record is noted under
 * <PREFIX>/challenges/dns-01/<hex SHA-256 of name and value> while it exists: a leader that dies before its
 * cleanup leaves the note, and the next leader runs the cleanup (the hook's del, or the RFC 2136 delete) for
 * it. The wraps do nothing when the store is not etcd. */
void mgr_fleet_http01_wrap(struct at_solver *s);
void mgr_fleet_dns01_wrap(struct at_solver *s);
void mgr_fleet_http01_follow(void);
/* A follower that starts to lead: forgets the tokens it answered for the old leader. */
void mgr_fleet_http01_forget(void);
/* A new leader, before its first order: what a dead leader left in challenges/http-01/ and challenges/dns-01/
 * is removed (DNS records through the cleanup of this host's DNS-01 solver first). Nothing off etcd. */
void mgr_fleet_take_over(void);
/* The parts of mgr_fleet_take_over: how many were removed, or a negative at_err (etcd not reached). */
int mgr_fleet_http01_leftovers(void);
int mgr_fleet_dns01_leftovers(void);

/* The watch on the fleet lock's key (fleet_watch.c), started with the others by mgr_fleet_watch_start.
 * mgr_fleet_try_due(ms since this process last tried for the fleet lock and lost): true when the key was deleted
 * since (or the watch came up: a delete may have gone unseen), else when MGR_FLEET_TRY_WATCHED_MS have passed
 * with the watch up or MGR_FLEET_TRY_MS without it. A true answer is consumed: the next call waits again. */
bool mgr_fleet_try_due(long since_ms);

/* The watches on <PREFIX>/certificates/ and <PREFIX>/challenges/ (fleet_watch.c): started once, in the manager
 * process only (a thread of its own; never in a host's process). mgr_fleet_watch_seq counts the changes seen
 * (and every reconnection, after which the store must be read again); 0 when no watch runs. */
void mgr_fleet_watch_start(void);
unsigned long mgr_fleet_watch_seq(void);
/* true while the watch stream is up (a follower then reads the store only when told, plus a slow safety poll). */
bool mgr_fleet_watching(void);

#endif
