/*
 * The challenge solvers' wait hooks, as acme/http.h's at_http_set_wait_hooks and store/lock_file.h's
 * at_lockset_set_wait_hooks: a caller that holds a lock around present() and cleanup() (the shim's manager holds
 * its fork-quiesce lock) has it released around every wait in challenge/ (a hook command, a DNS query or
 * update, the pause between rounds of the wait for a TXT record) and taken again after. No hooks: nothing is
 * called. The HTTP-01 solver never waits inside present() or cleanup(), so it calls none.
 */
#ifndef AUTOTLS_CHALLENGE_WAIT_HOOKS_H
#define AUTOTLS_CHALLENGE_WAIT_HOOKS_H

/* Set once, before any solver runs (not synchronised with running solvers). Either may be NULL. */
void at_challenge_set_wait_hooks(void (*begin)(void), void (*end)(void));

/* For the solvers in challenge/: call begin before a wait and end after it, always in pairs. */
void at_challenge_wait_begin(void);
void at_challenge_wait_end(void);
/* Sleeps ms milliseconds between the two hooks. */
void at_challenge_sleep_ms(long ms);

#endif
