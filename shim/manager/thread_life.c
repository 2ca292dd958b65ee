/*
 * The manager thread's life in a host process (libautotls-manager.so; see manager.h): the attach the preload
 * calls, the thread's start, the fork handlers, and the thread's parking at exit. autotls-manager, which no host
 * forks under, runs the same loop on its own main thread and uses none of this (autotls_manager.c).
 *
 * Who calls it: autotls_manager_attach runs once per process, on the host thread that made the first server
 * context, under the preload's attach_mu (shim/preload/init.c); the fork handlers run inside the host's
 * fork(), on whichever host thread forks; quiesce_at_exit runs inside exit(), on the exiting thread.
 *
 * What it owns: starting_mu (held for a whole thread start: one start at a time, and no fork in the middle of
 * one), the start_holds_quiesce semaphore (the new thread posts it once it holds the quiesce lock) and the exit
 * parking (exit_parked, exit_thread). Around fork it also takes two locks it does not own: mgr_quiesce
 * (quiesce.c; the manager thread holds it for all CPU work and releases it for every wait) and mgr_publish_mu
 * (sync.c; held while the region is parsed into the cache, also by a server thread in sync_now, without the
 * quiesce lock).
 *
 * Lock order: starting_mu, mgr_quiesce, mgr_publish_mu, sync.c's intern_mu (handshake threads only try it), then
 * the store's guard_mu (store/lock_file.c); the preload's attach_mu (init.c), held around the attach, comes
 * before all of them. fork_prepare takes the first four in this order and the store's prepare handler then takes
 * guard_mu; every thread keeps the same order:
 *   - starting_mu before mgr_quiesce: a start holds starting_mu while it waits for the new thread to take
 *     mgr_quiesce; a fork holding mgr_quiesce and waiting for starting_mu would stall both until the start's
 *     bounded wait (START_WAIT_S) gave up, and leave the thread halfway through its start at the fork;
 *   - mgr_quiesce before mgr_publish_mu: the manager thread syncs (mgr_sync) inside the quiesce lock;
 *   - mgr_quiesce before guard_mu: the manager thread makes every store call inside the quiesce lock. The
 *     store's fork handler is registered before ours (at_lockset_fork_handlers), because prepare handlers run
 *     in the reverse order of registration: at a fork it takes guard_mu after ours took mgr_quiesce.
 * publish.c's state_mu needs no handler: only manager threads take it, and only inside the quiesce lock, so a
 * fork (which holds that lock) never finds it held.
 *
 * Why fork takes them: OpenSSL 3.0 has no fork handlers, and a child that inherits a lock held by a thread it
 * does not have (OpenSSL's, libcurl's, the store's, ASan's allocator's during a thread start) waits on it for
 * ever. With the quiesce lock held by the forking thread the manager thread is either waiting (network, sleep,
 * store lock wait: all with the lock released) or not yet started; mgr_publish_mu is taken too because a server
 * thread in sync_now parses certificates (OpenSSL) under it without the quiesce lock. The child handler releases
 * the locks and starts a fresh thread with a fresh engine (the parent's thread did not come along).
 *
 * Exit: quiesce_at_exit (atexit, registered after OpenSSL's own handler, so it runs first) takes mgr_quiesce for
 * good, waiting at most EXIT_WAIT_S: the thread parks at its next step and OpenSSL's cleanup never frees what
 * it is using. A fork from a later exit handler of the same thread (parked_by_me) must not take the lock again:
 * it would wait for itself; its child gets no manager thread.
 *
 * Never: hold mgr_quiesce across a wait (the host's fork() and exit() wait for it); take one of these locks
 * while holding one that comes after it in the order; do more in fork_prepare and fork_parent than take and
 * release locks.
 */
#include "shim/manager/manager.h"
#include "shim/manager/fleet.h"
#include "shim/manager/control.h"
#include "acme/http.h"
#include "store/lock_file.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Held while a manager thread starts (see mgr_thread_start), and taken first by fork_prepare: a host thread
 * that forks while another thread of the host is starting ours waits until that start is complete. */
static pthread_mutex_t starting_mu = PTHREAD_MUTEX_INITIALIZER;

#define EXIT_WAIT_S 2 /* how long exit() waits for the manager to finish a step (see quiesce_at_exit) */
static atomic_int exit_parked; /* quiesce_at_exit took the quiesce lock, in exit_thread */
static pthread_t exit_thread;

/* Whether this thread is exiting and holds the quiesce lock for good: a fork from a later exit handler must
 * not take it again (it would wait for itself). */
static int parked_by_me(void)
{
	return atomic_load(&exit_parked) && pthread_equal(exit_thread, pthread_self());
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&starting_mu);
	if (!parked_by_me())
		pthread_mutex_lock(&mgr_quiesce);
	pthread_mutex_lock(&mgr_publish_mu);
	mgr_sync_fork_prepare();
}

static void fork_parent(void)
{
	mgr_sync_fork_after();
	pthread_mutex_unlock(&mgr_publish_mu);
	if (!parked_by_me())
		pthread_mutex_unlock(&mgr_quiesce);
	pthread_mutex_unlock(&starting_mu);
}

static void fork_child(void)
{
	/* The forking thread holds the locks in the child too: release them, then give the child its own
	 * manager thread (the parent's did not come along); not when the parent was exiting. */
	mgr_sync_fork_after();
	mgr_control_forked(); /* the control socket is the parent's leader's (control.c) */
	pthread_mutex_unlock(&mgr_publish_mu);
	pthread_mutex_unlock(&starting_mu);
	if (parked_by_me())
		return;
	pthread_mutex_unlock(&mgr_quiesce);
	mgr_forked_child = 1;
	if (mgr_thread_start() != 0)
		at_log_error("cannot start the manager thread after fork in pid %d", (int)getpid());
}

/* At exit the host's atexit handlers (OpenSSL's cleanup among them) free what the manager thread may be using.
 * Taking the quiesce lock for good parks the thread at its next step: the wait is for the step in progress (the
 * lock is released across every network wait, store lock wait and sleep), and the lock is never given back, as
 * the process is ending. The wait is bounded all the same (a store on a hung NFS server): after EXIT_WAIT_S the
 * exit goes on. Registered after OpenSSL's own handler, so it runs first. */
static void quiesce_at_exit(void)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += EXIT_WAIT_S;
	if (pthread_mutex_timedlock(&mgr_quiesce, &until) == 0) {
		exit_thread = pthread_self();
		atomic_store(&exit_parked, 1);
	}
	mgr_fleet_leave(); /* an in-process leader's locks on etcd (fleet_exit.c); nothing in any other process */
}

/*
 * The new thread reports here once it holds the quiesce lock; mgr_thread_start waits for that. Until then the
 * thread is starting up outside the lock (the C library's and, under AddressSanitizer, the sanitizer's own
 * thread set-up, which allocates and frees), and a host that forked in that window could hand its child an
 * allocator lock held by a thread the child does not have (see mgr_thread_start).
 */
/* One start at a time (starting_mu), and static, so that a post after the starter stopped waiting is harmless. */
static sem_t start_holds_quiesce;

#define START_WAIT_S 5 /* a thread start takes milliseconds; this only bounds a start that can never finish */

static void *thread_main(void *arg)
{
	(void)arg;
	/* Signals belong to the host's threads. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	mgr_host->set_in_manager(1);
	mgr_quiesce_enter();
	sem_post(&start_holds_quiesce);
	mgr_lead(); /* follows until it may lead; never returns while the process lives */
	mgr_quiesce_leave();
	return NULL;
}

/*
 * Starts the manager thread and returns only once it holds the quiesce lock, so that a fork right after this
 * (nginx daemonises and at once forks its workers; the child handler above runs this in every worker) finds
 * the thread either waiting for the lock or inside it, never halfway through its start. ASan's allocator (GCC
 * 12's libasan) has no fork handlers: a master whose new thread was preempted inside it, holding a size-class
 * lock, forked workers that inherited the lock taken, and their own manager threads (and later their server
 * threads) blocked on it forever: workers that never saw a published certificate, and handshakes that hung.
 * starting_mu extends this to a fork from another host thread while this one runs.
 */
int mgr_thread_start(void)
{
	pthread_t t;
	pthread_attr_t a;
	struct timespec until;
	pthread_mutex_lock(&starting_mu);
	if (sem_init(&start_holds_quiesce, 0, 0) != 0) {
		pthread_mutex_unlock(&starting_mu);
		return AT_E_NOMEM;
	}
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, thread_main, NULL);
	pthread_attr_destroy(&a);
	/* Bounded: a thread that can never take the lock (the process is exiting and holds it) must not keep the
	 * host's thread here. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += START_WAIT_S;
	if (rc == 0)
		while (sem_timedwait(&start_holds_quiesce, &until) != 0 && errno == EINTR)
			;
	pthread_mutex_unlock(&starting_mu);
	return rc == 0 ? 0 : AT_E_NOMEM;
}

__attribute__((visibility("default"))) int autotls_manager_attach(const struct shim_host *host);

int autotls_manager_attach(const struct shim_host *host)
{
	if (host == NULL || host->version != SHIM_HOST_API_VERSION)
		return AT_E_INVAL;
	mgr_host = host;
	/* This library has its own copy of the logger: point it where the preload's goes. */
	if (at_log_open(host->cfg->log_sink, host->cfg->log_path, host->cfg->log_level) != 0)
		return AT_E_IO;
	*host->sync_now = mgr_sync_now;
	at_http_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	at_lockset_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	/* The store's fork handler (it takes the lock set's guard mutex) first, so that at a fork it runs after
	 * ours, taking the guard after the quiesce lock, as the manager thread does. */
	at_lockset_fork_handlers();
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0 || atexit(quiesce_at_exit) != 0)
		return AT_E_NOMEM;
	int rc = mgr_thread_start();
	/* No thread allowed here (threadless.c): a follower does its steps at the host's handshakes instead. */
	if (rc != 0 && mgr_threadless_start() == 0)
		rc = 0;
	return rc;
}
