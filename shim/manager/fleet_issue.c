/*
 * The engine's side of the fleet's election (fleet.h), for the leader's engines on etcd (lead.c):
 *  - the issue lock's lease is MGR_FLEET_ISSUE_LEASE_S, not the engine's 300 s: when the host holding it dies in
 *    the middle of an issuance, the next leader must not wait five minutes for it (issue 11: "a dead holder's
 *    work is taken over when its lease ends"). The engine renews it at every step once a third has gone by, so a
 *    single step (one request to the CA) may take two thirds of it without the lock being lost.
 *  - the fleet lock is renewed from the engine's hold hook, at every step of an issuance and every second of a
 *    wait for the issue lock: the leader's loop renews it only between rounds, and a round can outlast the
 *    fleet's 6 s lease (a slow CA, another holder's lease to wait out), after which a second host would lead.
 * Who calls it: lead.c's lead_with_engine, on the manager thread; the hook runs there too (inside the engine).
 * What it must never do: stop an issuance itself (a lost fleet lock is noticed by the leader's loop after the
 * round; the issue lock, not the fleet lock, keeps a second order out).
 */
#include "shim/manager/fleet.h"
#include "engine/engine.h"

static void keep_fleet_lock(void *ctx)
{
	(void)ctx;
	/* Only on the thread that holds the fleet lock: fleet.c's store object is that thread's (an engine of the
	 * lead may also be driven from another thread, e.g. the stapler's re-order). */
	if (!mgr_fleet_publishes_here())
		return;
	int rc = mgr_fleet_keep(); /* logs a loss itself; the loop after the round acts on it */
	(void)rc;
}

void mgr_fleet_engine_config(struct at_engine_config *ec)
{
	if (!mgr_fleet_on())
		return;
	ec->issue_lease_s = MGR_FLEET_ISSUE_LEASE_S;
	ec->hold_hook = keep_fleet_lock;
	ec->hold_hook_ctx = NULL;
}
