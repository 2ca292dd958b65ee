/*
 * DNS-01 for the shim's manager (RFC 8555 section 8.4) through a user's hook command (AUTOTLS_DNS_HOOK):
 * the hook sets and removes the TXT record at the user's DNS provider, the manager checks that the record is
 * visible before the CA is told to look. See dns01.c.
 */
#ifndef AUTOTLS_SHIM_MANAGER_DNS01_H
#define AUTOTLS_SHIM_MANAGER_DNS01_H

struct at_solver;

/*
 * Fills *out with the DNS-01 solver for mgr_host->cfg. Returns 0 when AUTOTLS_DNS_HOOK is configured, else
 * AT_E_STATE and *out is untouched. The solver's ctx is NULL; nothing to free. present() and cleanup() run the
 * hook and wait (up to 60 s for the hook, AUTOTLS_DNS_WAIT for the record): manager thread only, holding the
 * quiesce lock (they release it while they wait), never a server thread.
 */
int mgr_dns01_solver(struct at_solver *out) __attribute__((warn_unused_result));

#endif
