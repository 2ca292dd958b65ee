/*
 * When a follower asks for the fleet lock (fleet.h): instead of every MGR_FLEET_TRY_MS (a lease grant, a
 * transaction and a revoke each time, three quarters of an idle fleet's etcd requests, and a takeover up to that
 * long after the lock is free), the manager process watches the lock's key for deletes (store/etcd_watch.c:
 * the holder's unlock, or etcd ending a dead holder's lease) and tries at once when one comes; else every
 * MGR_FLEET_TRY_WATCHED_MS as a safety net while the watch is up, and every MGR_FLEET_TRY_MS while it is not
 * (starting, or etcd unreachable: deletes then go unseen). A new stream counts as a delete (one missed while
 * none was open is not replayed), so a follower tries once whenever the watch comes (back) up.
 *
 * What it owns: the watch (a thread of its own, store/etcd_watch.c) and the count last acted on. Who calls it:
 * lead.c's mgr_lead, on the manager thread only (start once, then mgr_fleet_try_due every tick). What it must
 * never do: start in a host's process (the thread would meet the host's forks); decide who leads (the lock's
 * transaction does: a delete seen only makes a try come sooner). Lock order: none.
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "store/etcd_watch.h"
#include "util/log.h"

static struct at_etcd_watch *lock_watch;
static unsigned long acted_seq; /* the watch's count at the last try it caused (or saw past) */

void mgr_fleet_lockwatch_start(void)
{
	struct at_etcd_url u;
	struct at_etcd_tls tls;

	if (lock_watch != NULL || !mgr_is_helper || !mgr_fleet_on())
		return;
	at_etcd_tls_from_env(&tls); /* the store's own (store_etcd.c) */
	int rc = at_etcd_url_parse(&u, mgr_host->cfg->storage);
	if (rc == 0)
		rc = at_etcd_watch_lock_start(&lock_watch, &u, &tls, MGR_FLEET_LOCK);
	if (rc != 0)
		at_log_warn("no etcd watch on the fleet lock (%s): this host asks for it every %d ms", at_strerror(rc),
			    MGR_FLEET_TRY_MS);
}

bool mgr_fleet_try_due(long since_ms)
{
	unsigned long seq = at_etcd_watch_seq(lock_watch);
	if (seq != acted_seq) {
		acted_seq = seq;
		return true;
	}
	return since_ms >= (at_etcd_watch_up(lock_watch) ? MGR_FLEET_TRY_WATCHED_MS : MGR_FLEET_TRY_MS);
}
