/*
 * libautotls-manager.so: the manager thread, loaded by the preload on the first server context of a process.
 *
 * Every process that hooked a server context runs one manager thread. Exactly one of them, per store, is the
 * leader: it holds an fcntl lock on <storage>/manager.lock (per process, released when the holder dies, not
 * inherited by fork) and does the ACME work: obtain, renew, answer TLS-ALPN-01 by publishing challenge
 * certificates, and publish every certificate into the shared region. The others are followers: they wait on
 * the region's futex and rebuild their process's cache when it changes, and try for the lock every few
 * seconds when their user can write the store (a worker that dropped to www-data never leads).
 *
 * Fork: the thread does all CPU work (OpenSSL, libcurl, the store) holding the quiesce lock and releases it
 * while it waits (network, sleeps). pthread_atfork's prepare takes the lock, so no fork ever happens while the
 * manager is inside OpenSSL or holds a store mutex; the child handler starts a fresh thread in the child,
 * with a fresh engine (the parent's is abandoned: its sockets belong to the parent). Starting the thread
 * returns only once it holds the lock, so no fork catches it halfway through its start either (thread_life.c).
 *
 * It never runs on a server thread, except sync_now(), which a ClientHello offering only acme-tls/1 may call
 * (a parse of the region, no I/O).
 */
#ifndef AUTOTLS_SHIM_MANAGER_MANAGER_H
#define AUTOTLS_SHIM_MANAGER_MANAGER_H

#include "shim/host_api.h"
#include "util/err.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

extern const struct shim_host *mgr_host;

/* The quiesce lock (see above). */
void mgr_quiesce_enter(void);
void mgr_quiesce_leave(void);
/* Sleeps ms with the quiesce lock released. */
void mgr_sleep_ms(long ms);
/* For a loop of small steps under the quiesce lock: once 20 ms have passed since *since_ms (at_clock_ms), lets
 * the lock go for a moment (the other threads' turn) and restarts *since_ms. */
void mgr_quiesce_slice(long *since_ms);
/* The lock itself (quiesce.c), and the one mgr_sync holds while it parses the region into the cache (sync.c):
 * taken directly only by thread_life.c's fork and exit handlers, which open with the lock order. */
extern pthread_mutex_t mgr_quiesce;
extern pthread_mutex_t mgr_publish_mu;

/* Brings this process's cache up to date with the region (mgr_host->shm; mgr_sync_region: a given one, e.g. the
 * private region of a process without a shared one) when its generation changed, parsing only the records
 * whose version changed. Returns 0 or a negative error. Takes the publish mutex. mgr_sync may be called for its
 * effect alone (a follower's wake-up, sync_now): on a failure the cache stays as it was and the next change
 * tries again. */
int mgr_sync(void);
int mgr_sync_region(struct shm_region *shm);
/* mgr_sync for a handshake that waits for what the region holds now (the host's sync_now): new names are
 * indexed at once, never deferred as the manager thread's own syncs may defer them during a bulk load. */
int mgr_sync_now(void);

/* The leader's work until it loses the lead (returns) or the process ends. */
void mgr_lead(void);

/* One step of a follower whose leader lives elsewhere (the host manager, another tree): when this process is
 * its tree's publisher, copies the certificate from the store into the region if the record changed. The
 * manager thread calls it with the quiesce lock held (lead.c), a threadless follower too (threadless.c). */
void mgr_follow_store(void);

/* A process that cannot start the manager thread (Dovecot's login processes run with RLIMIT_NPROC 1): sets the
 * host's poll_now so that its handshakes follow the store themselves (threadless.c). 0, or AT_E_STATE when the
 * host has no poll_now or this process may lead its store (a leader needs its thread). */
int mgr_threadless_start(void) AT_MUST_CHECK;

/* Starts the manager thread in this process; returns once the thread holds the quiesce lock. Returns 0 or
 * AT_E_NOMEM. */
int mgr_thread_start(void) AT_MUST_CHECK;

/* The TLS-ALPN-01 solver the leader uses: publishes challenge certificates through the region
 * (tlsalpn01_solver.c). */
struct at_solver;
void mgr_tlsalpn01_solver(struct at_solver *s);
/* Publishes a challenge certificate for sni beside the others (publish.c). Steals *chain and *key (PEM, the key
 * a secret), nulling them, on every path. Returns 0, AT_E_RANGE (64 pending) or a publishing error. */
int mgr_publish_challenge(const char *sni, char **chain, size_t chain_len, char **key, size_t key_len)
	AT_MUST_CHECK;
/* Withdraws sni's challenge certificate (when there is one) and publishes what is left. 0 or a publishing error. */
int mgr_withdraw_challenge(const char *sni) AT_MUST_CHECK;
/* The current certificate set the leader publishes beside challenges (replaced on every issuance). Returns 0,
 * AT_E_STATE when it is the one already published, or the error that kept the previous one in service. */
int mgr_publish_certs(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name)
	AT_MUST_CHECK;
/* An OCSP response to staple beside a certificate (borrowed): DER, and the time it stops being stapled. */
struct mgr_staple_ref {
	const unsigned char *der;
	size_t len;
	time_t until;
};
/* mgr_publish_certs with the certificate's OCSP staple in its record (staple NULL or empty: none); a new staple
 * for the same certificate is a change (the record is written again), the same one AT_E_STATE. */
int mgr_publish_stapled(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name,
			const struct mgr_staple_ref *staple) AT_MUST_CHECK;

/* Brackets many publishes (the stored on-demand certificates at start, a turn of OCSP staples): the followers are
 * woken once at the end, not per certificate (each wake-up would build a snapshot of everything). Brackets
 * nest (a count). publish.c. */
void mgr_publish_batch(int on);

/* Set in a child after fork: it waits a little before its first election (lead.c). */
extern int mgr_forked_child;
/* Set in autotls-manager, the tree's manager process (autotls_manager.c): it leads, or copies from the store. */
extern int mgr_is_helper;

/* The sync's own table lock (the intermediates shared by records), taken and released around a host's fork by
 * thread_life.c, after mgr_publish_mu. sync.c. */
void mgr_sync_fork_prepare(void);
void mgr_sync_fork_after(void);

/* The enabled challenge solvers in a fresh random order (challenges.c). Returns 0 or AT_E_NO_SOLVER. */
int mgr_challenges(struct at_solver *out, size_t max, size_t *n) AT_MUST_CHECK;

/* This host's own solver of type (AT_CHALLENGE_HTTP_01 or AT_CHALLENGE_DNS_01, an enum at_challenge_type),
 * whatever AUTOTLS_CHALLENGES says and never wrapped for the fleet: what a follower answers the leader's tokens
 * with, and what a new leader removes a dead one's records with (fleet_http01.c, fleet_dns01.c). 0, the
 * solver's constructor's error, or AT_E_UNSUPPORTED. challenges.c. */
int mgr_challenge_solver(int type, struct at_solver *out) AT_MUST_CHECK;

/* The enabled solvers (mgr_challenges, into list[AT_CHALLENGE_COUNT]) and the attempt record's plan for names at
 * e (at_engine_attempt_plan): which types may be tried now, in which order. A record that cannot be read plans
 * "now, in the offered order". Returns 0 or AT_E_NO_SOLVER. challenges.c. */
struct at_engine;
struct at_attempt_plan;
struct at_cert_record;
int mgr_challenge_plan(struct at_engine *e, const char *const *names, size_t nnames, struct at_solver *list,
		       size_t *n, struct at_attempt_plan *plan) AT_MUST_CHECK;
/* One round with the solvers use[0..n) (mgr_challenge_plan's list, maybe wrapped) as plan says: each type in
 * its order, falling back to the next only when at_engine_fallback allows (logged); when nothing may be tried
 * now, one ensure with every type (a good stored certificate comes back, else the engine's AT_E_BACKOFF).
 * at_engine_ensure's contract. */
int mgr_challenge_round(struct at_engine *e, const char *const *names, size_t nnames, const struct at_solver *use,
			size_t n, const struct at_attempt_plan *plan, int force, struct at_cert_record *rec,
			int *ordered) AT_MUST_CHECK;

/* Publishes an on-demand certificate beside the managed one (replacing that name's earlier one). Returns 0,
 * AT_E_STATE when the region already holds exactly this chain for name (nothing published), AT_E_NOMEM, or
 * the region's AT_E_TOOBIG (full: the earlier state is kept). */
int mgr_publish_extra(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name)
	AT_MUST_CHECK;

/* mgr_publish_extra with the certificate's OCSP staple in its record (staple NULL or empty: none). Called by
 * staple_many.c, which serialises the publishes of one name with its staple's. */
int mgr_publish_extra_stapled(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name,
			      const struct mgr_staple_ref *staple) AT_MUST_CHECK;

/* Withdraws the certificate record published for name by mgr_publish_extra (a site removed from the sites
 * file), when there is one. 0 or a publishing error. publish.c. */
int mgr_withdraw_extra(const char *name) AT_MUST_CHECK;

/* fn is called with the name of every record mgr_withdraw_extra withdraws, before it is dropped, holding no lock
 * of publish.c (staple_many.c's forget). publish.c. */
void mgr_publish_on_withdraw(void (*fn)(const char *name));

/* Starts the sites file's watcher and workers (AUTOTLS_SITES; manager process only; sites_pool.c). Returns 0
 * (also when no sites file is set) or AT_E_NOMEM. */
int mgr_sites_start(void) AT_MUST_CHECK;

/* Starts the thread that ends the manager process once no process of its tree is left (manager process only;
 * tree_watch.c); it owns lifeline (closed at its end-of-file). 0 or AT_E_NOMEM. */
int mgr_tree_watch_start(const struct shm_region *shm, int lifeline) AT_MUST_CHECK;

/* Starts the on-demand thread (manager process only; ondemand.c). Returns 0 (also when on-demand is off) or
 * AT_E_NOMEM. */
int mgr_ondemand_start(void) AT_MUST_CHECK;

/* The security levels (cache_cert.refused_levels) at which OpenSSL refuses leaf with key and chain (borrowed),
 * and OpenSSL's reason at the lowest of them (a static string, NULL when none). Caller holds the sync's lock
 * (mgr_publish_mu). Returns 0 or AT_E_NOMEM (no probe connection could be made). refusal.c. */
int mgr_refused_levels(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned *levels, const char **why)
	AT_MUST_CHECK;
/* Makes the probe's context (under mgr_publish_mu, before a snapshot with lazy entries is published). 0 or
 * AT_E_NOMEM. refusal.c. */
int mgr_refusal_ready(void) AT_MUST_CHECK;
/* mgr_refused_levels on a probe connection of its own: for a handshake's thread, which parses a record on its
 * first use (sync.c) and holds no lock. 0 or AT_E_NOMEM. refusal.c. */
int mgr_refused_levels_fresh(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned *levels, const char **why)
	AT_MUST_CHECK;
/* c itself when it was parsed with its snapshot, *out filled when a handshake has parsed it since (lazy), NULL
 * when not yet. sync.c. */
const struct cache_cert *mgr_cert_parsed(const struct cache_cert *c, struct cache_cert *out);
/* Logs, once per certificate and level, each certificate of the current snapshot that handshakes of this
 * process kept the host's certificate for. Manager thread only. refusal.c. */
void mgr_report_refusals(void);

/* Whether this process's user may write the store (and so may lead). */
bool mgr_can_lead(void);

/* The region mapped writable for this process's publisher (mgr_host->region_writable), or NULL when this
 * process may not write it (said once per process). Manager thread, quiesce lock held. region_write.c. */
struct shm_region *mgr_region_writable(void);

/* The process whose listeners tell that the tree can answer a validation (ready.c): in the manager process the
 * one that started it; 0 (this process) elsewhere. */
extern pid_t mgr_tree_pid;
/* Waits (quiesce lock released, bounded) until that process listens on a TCP socket; at once after the first
 * time it did. */
void mgr_wait_tree_listens(void);
/* Whether solver s is answered through the host (TLS-ALPN-01 on its port, HTTP-01 through its webroot). */
bool mgr_solver_needs_host(const struct at_solver *s);
/* out: inner, whose present() then waits for the tree's listener. inner must outlive out. */
void mgr_solver_when_ready(struct at_solver *out, const struct at_solver *inner);

#endif
