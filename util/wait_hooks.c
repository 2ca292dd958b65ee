/* See wait_hooks.h. */
#include "util/wait_hooks.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>

void at_wait_hooks_begin(const struct at_wait_hooks *h)
{
	if (h->begin != NULL)
		h->begin();
}

void at_wait_hooks_end(const struct at_wait_hooks *h)
{
	if (h->end != NULL)
		h->end();
}

void at_wait_hooks_sleep_ms(const struct at_wait_hooks *h, long long ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	if (ms <= 0)
		return;
	at_wait_hooks_begin(h);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	at_wait_hooks_end(h);
}
