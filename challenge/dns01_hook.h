/*
 * DNS-01 (RFC 8555 section 8.4) through a user's hook command that sets and removes the TXT record at the
 * user's DNS provider (AUTOTLS_DNS_HOOK); the record is checked to be visible (dns01_wait.h) before the CA is
 * told to look. See dns01_hook.c.
 */
#ifndef AUTOTLS_CHALLENGE_DNS01_HOOK_H
#define AUTOTLS_CHALLENGE_DNS01_HOOK_H

#include "challenge/dns01_wait.h"
#include "util/err.h"

struct at_solver;

struct at_dns01_hook_config {
	const char *hook;                 /* the absolute path of an executable, run as `hook add|del <name> <value>` */
	struct at_dns01_wait_config wait; /* where and how long to look for the record after add */
};

/*
 * Fills *out with the hook solver for *cfg. Returns 0, or AT_E_STATE (cfg or its hook is NULL) and *out is
 * untouched. Borrows cfg as the solver's ctx: it must outlive the last cleanup(). Nothing to free. present()
 * and cleanup() run the hook and wait (up to 60 s for the hook, cfg->wait.wait_s for the record), calling the
 * wait hooks (wait_hooks.h) around every wait: a solver thread, never a server thread.
 */
int at_dns01_hook_solver(struct at_solver *out, const struct at_dns01_hook_config *cfg) AT_MUST_CHECK;

#endif
