/*
 * A follower without a thread, for a host process that may not start one.
 *
 * Why: Dovecot's login processes (imap-login, pop3-login) set RLIMIT_NPROC to 1 once they run as dovenull ("make
 * sure we can't fork()", login-common/main.c), and only then make their TLS contexts; a thread counts against
 * that limit, so the manager thread's pthread_create fails with EAGAIN. Such a process can only follow (its user
 * may not write the store), and following needs no thread: the host's own handshakes do the follower's step.
 *
 * What it owns: the time of the last step (poll_at_ms) and the try-lock that keeps steps one at a time. Who calls
 * it: the preload's certificate callback (hooks_poll, set through host->poll_now), on the host's handshake thread,
 * for every server handshake, only in a process where mgr_threadless_start ran. What it does: at most once every
 * POLL_MS, with the quiesce lock taken by try-lock (never waiting for it), copies the certificate from the store
 * into this process's region when the record changed (mgr_follow_store: file reads and one PEM parse, a few
 * milliseconds, on the first handshake and after a renewal) and brings the cache up to date (mgr_sync). It never
 * leads, orders, or touches the network; a handshake that finds a step under way or not due goes on at once.
 * Lock order: mgr_quiesce, then what mgr_follow_store and mgr_sync take (as on the manager thread).
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

/* The manager thread's store poll (lead.c's STORE_POLL_MS): a renewal reaches new sessions as soon. */
#define POLL_MS 2000

static atomic_long poll_at_ms = -1; /* -1: never; the first handshake steps at once */

static int poll_now(void)
{
	long now = at_clock_ms(), last = atomic_load(&poll_at_ms);
	if (last >= 0 && now - last < POLL_MS)
		return 0;
	if (pthread_mutex_trylock(&mgr_quiesce) != 0)
		return 0;
	last = atomic_load(&poll_at_ms);
	if (last >= 0 && now - last < POLL_MS) { /* another handshake took the step meanwhile */
		mgr_quiesce_leave();
		return 0;
	}
	atomic_store(&poll_at_ms, now);
	/* The store's reads and the parse make OpenSSL objects the hooks must not take for the host's. */
	mgr_host->set_in_manager(1);
	/* Only a folder is read on a handshake thread: an etcd store is the network, which a handshake never waits
	 * on; there the tree's manager process fills the region, and this step only brings the cache up to date. */
	if (!mgr_fleet_on())
		mgr_follow_store();
	int rc = mgr_sync();
	mgr_host->set_in_manager(0);
	mgr_quiesce_leave();
	return rc;
}

int mgr_threadless_start(void)
{
	struct rlimit nproc;
	if (mgr_host->poll_now == NULL || mgr_can_lead())
		return AT_E_STATE;
	if (getrlimit(RLIMIT_NPROC, &nproc) != 0)
		nproc.rlim_cur = RLIM_INFINITY;
	if (nproc.rlim_cur == RLIM_INFINITY)
		at_log_warn("pid %d (uid %d) cannot start the manager thread; it follows %s at its handshakes",
			    (int)getpid(), (int)geteuid(), mgr_host->cfg->storage);
	else
		at_log_info("pid %d (uid %d) may not start a thread (RLIMIT_NPROC %llu); it follows %s at its "
			    "handshakes, every %d s at most",
			    (int)getpid(), (int)geteuid(), (unsigned long long)nproc.rlim_cur, mgr_host->cfg->storage,
			    POLL_MS / 1000);
	*mgr_host->poll_now = poll_now;
	return 0;
}
