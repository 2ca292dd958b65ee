/*
 * The on-demand idle rule (AUTOTLS_ON_DEMAND_IDLE): an on-demand name no handshake asked for in that many days
 * is not renewed; its certificate is served until it expires, and a handshake after that asks for it anew.
 *
 * How "asked" is known without a write per handshake: each server process keeps, per certificate slot, the time
 * before which it does not tell again (shim/manager/sync.c, one relaxed atomic load and a compare per handshake,
 * in memory of that process only); when it passes, the handshake posts the name once, marked as a touch
 * (ONDEMAND_TOUCH_MARK then the name), to the untrusted channel's ring, and the manager notes the time in its
 * table (shim/manager/ondemand.c), kept in the store (ondemand_asked.c) so that a restart does not reset it.
 * A touch is told at most once every ondemand_touch_s, a thirtieth of the idle time and never more than a day:
 * the rule is coarse by design, a day in thirty.
 */
#ifndef AUTOTLS_SHIM_ONDEMAND_IDLE_H
#define AUTOTLS_SHIM_ONDEMAND_IDLE_H

#include "shim/config.h"

/* Not a name's first byte (names are letters, digits, hyphens and dots): a touch, not a request. */
#define ONDEMAND_TOUCH_MARK '+'

/* The idle time in seconds (the tests' AUTOTLS_TEST_BACKOFF_SCALE divides it); 0: no idle rule. */
static inline long ondemand_idle_s(const struct shim_config *cfg)
{
	long d = cfg->backoff_divisor > 0 ? cfg->backoff_divisor : 1;
	if (cfg->on_demand_idle_days <= 0)
		return 0;
	long s = cfg->on_demand_idle_days * 86400 / d;
	return s > 0 ? s : 1;
}

/* How often a process tells that a name was asked for: a thirtieth of the idle time, 1 s to a day. */
static inline long ondemand_touch_s(const struct shim_config *cfg)
{
	long s = ondemand_idle_s(cfg) / 30;
	return s < 1 ? 1 : s > 86400 ? 86400 : s;
}

#endif
