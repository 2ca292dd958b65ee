/*
 * How long to wait after a failed attempt to obtain a certificate (see at_backoff_delay in engine.h).
 *
 * The steps (1 min, 10 min, 100 min, then daily) keep a CA that is down from being hammered; the cap at an eighth
 * of the time the current certificate has left keeps a short-lived certificate from running out between two
 * tries: a 6-day certificate due with 3 days left would otherwise get one try a day, and a 3-day outage from its
 * renewal point would leave it none before it ends. With the cap the tries come closer as the end nears (each
 * wait at most an eighth of what is left), so a CA that comes back any time before the end is tried again soon.
 */
#include "engine/engine.h"

#define BACKOFF_FLOOR_S 60

static const long steps_s[] = { 60, 600, 6000, 86400 };

long at_backoff_delay(int failures, time_t now, time_t not_after, long retry_after, long divisor)
{
	int i = failures < 0 ? 0 : failures;
	long d = steps_s[i < 3 ? i : 3];
	if (not_after > now) {
		long cap = (long)((not_after - now) / 8);
		if (cap < BACKOFF_FLOOR_S)
			cap = BACKOFF_FLOOR_S;
		if (d > cap)
			d = cap;
	}
	if (divisor > 1)
		d /= divisor;
	if (d < 1)
		d = 1;
	/* The CA's own word (Retry-After on rateLimited or a 503, RFC 8555 section 6.6) is never shortened. */
	if (retry_after > d)
		d = retry_after;
	return d;
}
