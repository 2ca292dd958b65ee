/*
 * A pair of hooks around a wait, for the core's modules that wait (acme/http_curl.c between a transfer's rounds
 * and in its pauses, store/lock_file.c between lock attempts, challenge/ in hook commands, DNS queries and the
 * TXT wait): a caller that holds a lock around the work (the shim's manager holds its fork-quiesce lock) has it
 * released around every wait and taken again after. Each module keeps its own pair, set once before it is used
 * (not synchronised with running work); either hook may be NULL.
 */
#ifndef AUTOTLS_UTIL_WAIT_HOOKS_H
#define AUTOTLS_UTIL_WAIT_HOOKS_H

struct at_wait_hooks {
	void (*begin)(void);
	void (*end)(void);
};

void at_wait_hooks_begin(const struct at_wait_hooks *h);
void at_wait_hooks_end(const struct at_wait_hooks *h);
/* Sleeps ms milliseconds (<= 0: returns at once, calling nothing) between begin and end. */
void at_wait_hooks_sleep_ms(const struct at_wait_hooks *h, long long ms);

#endif
