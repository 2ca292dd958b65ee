/*
 * What a new leader of an etcd fleet does before its first order (fleet.h): a leader that died in the middle of
 * an issuance left its HTTP-01 tokens (followers would keep their responders open for them) and its DNS-01
 * notes (the TXT records are still at the DNS provider) in the store; the new one removes them. It also forgets
 * the tokens it answered as a follower.
 *
 * Who calls it: mgr_lead (lead.c) on the manager thread, once the fleet lock is held, so no other leader writes
 * challenges/ meanwhile (and the store's writes compare that lock). Owns nothing. Must never: run on a server
 * thread (the DNS cleanup runs a hook, waits released through the wait hooks).
 */
#include "shim/manager/fleet.h"
#include "util/log.h"

void mgr_fleet_take_over(void)
{
	if (!mgr_fleet_on())
		return;
	mgr_fleet_http01_forget();
	int h = mgr_fleet_http01_leftovers(), d = mgr_fleet_dns01_leftovers();
	if (h > 0 || d > 0)
		at_log_info("the fleet's last leader left %d http-01 token(s) and %d dns-01 record(s); removed", h, d);
}
