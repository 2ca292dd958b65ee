/* See wait_hooks.h. */
#include "challenge/wait_hooks.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>

static void (*wait_begin)(void);
static void (*wait_end)(void);

void at_challenge_set_wait_hooks(void (*begin)(void), void (*end)(void))
{
	wait_begin = begin;
	wait_end = end;
}

void at_challenge_wait_begin(void)
{
	if (wait_begin != NULL)
		wait_begin();
}

void at_challenge_wait_end(void)
{
	if (wait_end != NULL)
		wait_end();
}

void at_challenge_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	at_challenge_wait_begin();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	at_challenge_wait_end();
}
