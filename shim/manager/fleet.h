/*
 * The fleet: one leader for every host that shares an etcd store (shim/manager/fleet.c), and the watch that
 * tells a follower a certificate changed in the store (shim/manager/fleet_watch.c). Nothing here applies to a
 * folder store: there the tree's fcntl lock on <state>/manager.lock is the whole election, as before.
 */
#ifndef AUTOTLS_SHIM_MANAGER_FLEET_H
#define AUTOTLS_SHIM_MANAGER_FLEET_H

#include "util/err.h"

#include <stddef.h>

#include <stdbool.h>

struct at_store;

/* The fleet lock's lease (seconds): a leader that dies is replaced this long after its last keepalive. */
#define MGR_FLEET_LEASE_S 6
/* How often a leader renews it (from its loop's one-second ticks) and a follower asks for it. */
#define MGR_FLEET_KEEP_MS 1000
#define MGR_FLEET_TRY_MS 2000

/* true when AUTOTLS_STORAGE is an etcd store: the election is the fleet lock as well as the local one. */
bool mgr_fleet_on(void);

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

/* The watches on <PREFIX>/certificates/ and <PREFIX>/challenges/ (fleet_watch.c): started once, in the manager
 * process only (a thread of its own; never in a host's process). mgr_fleet_watch_seq counts the changes seen
 * (and every reconnection, after which the store must be read again); 0 when no watch runs. */
void mgr_fleet_watch_start(void);
unsigned long mgr_fleet_watch_seq(void);
/* true while the watch stream is up (a follower then reads the store only when told, plus a slow safety poll). */
bool mgr_fleet_watching(void);

#endif
