/*
 * The fleet's election (fleet.h): with AUTOTLS_STORAGE=etcd://..., the tree's leader (the holder of the local
 * fcntl lock on <state>/manager.lock, lead.c) leads the whole fleet only while it also holds the store lock
 * "manager" on etcd, a leased key (store/store_etcd.c) that the leader's loop keeps alive and that etcd deletes
 * when the holder stops renewing it. A tree that holds the local lock but not the fleet lock gives the local one
 * back and follows: it copies certificates from the store (lead.c, publish_from_store).
 *
 * What it owns: one store object of its own (the engine's writes must not compare against the election's lease:
 * an order outlasting the lease would fail its writes; the issue lock the engine takes is what keeps a second
 * order out), and the time of the last renewal. Who calls it: lead.c's mgr_lead and its leader's one-second loop,
 * on the manager thread only (no lock of its own). What it must never do: run on a server thread; hold the
 * quiesce lock while it waits (the store's pauses go through the wait hooks; a request itself is bounded by the
 * etcd client's timeouts, 1.5 s).
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#include <stdbool.h>
#include <unistd.h>

#define FLEET_LOCK MGR_FLEET_LOCK

static struct at_store *fleet_store;
static pid_t fleet_pid; /* the process that opened it: a forked child leaves the parent's connection alone */
static int64_t last_keep_ms; /* the last renewal etcd confirmed (or the take) */
static int held;
static _Thread_local int held_here; /* set on the thread that took the lock, cleared where it is given up */
static int warned;

bool mgr_fleet_on(void)
{
	return at_store_is_remote(mgr_host->cfg->storage) != 0;
}

bool mgr_fleet_publishes_here(void)
{
	return held_here && held && fleet_pid == getpid() && mgr_fleet_on();
}

static int open_store(void)
{
	if (fleet_store != NULL && fleet_pid == getpid())
		return 0;
	fleet_store = NULL; /* a parent's (its socket is the parent's): left as it is */
	held = 0;
	fleet_pid = getpid();
	int rc = at_store_open(&fleet_store, mgr_host->cfg->storage, (gid_t)-1);
	if (rc == 0)
		mgr_fleet_exit_add(fleet_store); /* given back at a clean exit (fleet_exit.c) */
	if (rc != 0 && !warned++)
		at_log_error("AUTOTLS_STORAGE %s: cannot reach etcd for the fleet's election (%s); this host follows "
			     "what it has until it can", mgr_host->cfg->storage, at_strerror(rc));
	return rc;
}

struct at_store *mgr_fleet_store(void)
{
	return open_store() == 0 ? fleet_store : NULL;
}

int mgr_fleet_try_lead(void)
{
	int rc = open_store();
	if (rc != 0)
		return rc;
	rc = at_store_lock(fleet_store, FLEET_LOCK, MGR_FLEET_LEASE_S, 0);
	if (rc == 0) {
		held = 1;
		held_here = 1;
		warned = 0;
		last_keep_ms = at_clock_ms();
		at_log_info("pid %d leads the fleet on %s", (int)getpid(), mgr_host->cfg->storage);
	} else if (rc != AT_E_LOCKED && !warned++) {
		at_log_warn("the fleet's election on %s failed (%s); trying again", mgr_host->cfg->storage,
			    at_strerror(rc));
	}
	return rc;
}

int mgr_fleet_keep(void)
{
	if (!held || fleet_pid != getpid())
		return AT_E_LOCKED;
	int64_t now = at_clock_ms();
	if (now - last_keep_ms < MGR_FLEET_KEEP_MS)
		return 0;
	int rc = at_store_lock_refresh(fleet_store, FLEET_LOCK, MGR_FLEET_LEASE_S);
	if (rc == 0) {
		last_keep_ms = at_clock_ms();
		return 0;
	}
	/* etcd not answering: the lease may still run; past its end another host may lead, so neither may we. We
	 * stop two seconds before (the store's keepalive gives up a second before the end, its pauses may end it up
	 * to 400 ms sooner, and the next try comes a loop later), so that the lead ends here before another host
	 * can take it. */
	if (rc != AT_E_LOCKED && rc != AT_E_STATE && at_clock_ms() - last_keep_ms < MGR_FLEET_LEASE_S * 1000L - 2000)
		return 0;
	at_log_warn("pid %d lost the fleet's lead on %s (%s)", (int)getpid(), mgr_host->cfg->storage, at_strerror(rc));
	mgr_fleet_release();
	return AT_E_LOCKED;
}

void mgr_fleet_release(void)
{
	if (!held || fleet_pid != getpid())
		return;
	held = 0;
	held_here = 0;
	if (at_store_unlock(fleet_store, FLEET_LOCK) != 0)
		at_log_debug("the fleet lock was not given back; its lease ends by itself in %d s", MGR_FLEET_LEASE_S);
}
