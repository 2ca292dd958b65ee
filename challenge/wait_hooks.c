/* See wait_hooks.h. */
#include "challenge/wait_hooks.h"

#include "util/wait_hooks.h"

static struct at_wait_hooks wait_hooks;

void at_challenge_set_wait_hooks(void (*begin)(void), void (*end)(void))
{
	wait_hooks.begin = begin;
	wait_hooks.end = end;
}

void at_challenge_wait_begin(void)
{
	at_wait_hooks_begin(&wait_hooks);
}

void at_challenge_wait_end(void)
{
	at_wait_hooks_end(&wait_hooks);
}

void at_challenge_sleep_ms(long ms)
{
	at_wait_hooks_sleep_ms(&wait_hooks, ms);
}
