/*
 * The fleet's watches (fleet.h): in the manager process of a tree on an etcd store, one store watch
 * (store/etcd_watch.c, a thread of its own) on <PREFIX>/certificates/ and one on <PREFIX>/challenges/, so a
 * follower reads the store when a certificate or a challenge changed instead of every few seconds; and one on
 * the fleet lock's key, deletes only, so that a follower asks for the lock when it is free: at once when the
 * holder gives it back or etcd ends a dead holder's lease, else every MGR_FLEET_TRY_WATCHED_MS as a safety net
 * while that watch is up, and every MGR_FLEET_TRY_MS while it is not (deletes then go unseen). A new stream
 * counts as a delete (one missed while none was open is not replayed). The lock's transaction alone decides
 * who leads: a delete seen only makes a try come sooner. Who calls it: lead.c's mgr_lead, on the manager thread
 * (start once; then only the counter is read). What it must never do: start in a host's process (a thread
 * there would meet the host's forks; the manager process never forks but to posix_spawn a hook), publish
 * anything itself (lead.c's loop does, under its own rules). Lock order: none.
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "store/etcd_watch.h"
#include "util/log.h"

#include <unistd.h>

static struct at_etcd_watch *watch, *watch_ch; /* certificates/, challenges/ */
static struct at_etcd_watch *watch_lock;     /* the fleet lock's key */
static unsigned long lock_acted;             /* watch_lock's count at the last try it caused (or saw past) */

void mgr_fleet_watch_start(void)
{
	if (watch != NULL || !mgr_is_helper || !mgr_fleet_on())
		return;
	struct at_etcd_url u;
	struct at_etcd_tls tls;
	at_etcd_tls_from_env(&tls); /* the store's own (store_etcd.c) */
	int rc = at_etcd_url_parse(&u, mgr_host->cfg->storage), parsed = rc == 0;
	if (rc == 0)
		rc = at_etcd_watch_start(&watch, &u, &tls, "certificates/");
	if (rc == 0)
		rc = at_etcd_watch_start(&watch_ch, &u, &tls, "challenges/");
	if (rc != 0 && watch != NULL) { /* no half watch: it would block the next try and count alone */
		at_etcd_watch_stop(watch);
		watch = NULL;
	}
	if (rc == 0)
		at_log_debug("pid %d watches %s for new certificates", (int)getpid(), mgr_host->cfg->storage);
	else
		at_log_warn("no etcd watch (%s): this host reads the store for new certificates every few seconds",
			    at_strerror(rc));
	if (parsed && (rc = at_etcd_watch_lock_start(&watch_lock, &u, &tls, MGR_FLEET_LOCK)) != 0)
		at_log_warn("no etcd watch on the fleet lock (%s): this host asks for it every %d ms", at_strerror(rc),
			    MGR_FLEET_TRY_MS);
}

bool mgr_fleet_try_due(long since_ms)
{
	unsigned long seq = at_etcd_watch_seq(watch_lock);
	if (seq != lock_acted) {
		lock_acted = seq;
		return true;
	}
	return since_ms >= (at_etcd_watch_up(watch_lock) ? MGR_FLEET_TRY_WATCHED_MS : MGR_FLEET_TRY_MS);
}

unsigned long mgr_fleet_watch_seq(void)
{
	return at_etcd_watch_seq(watch) + at_etcd_watch_seq(watch_ch);
}

bool mgr_fleet_watching(void)
{
	return at_etcd_watch_up(watch) && at_etcd_watch_up(watch_ch);
}
