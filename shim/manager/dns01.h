/*
 * DNS-01 for the shim's manager (RFC 8555 section 8.4), in one of two modes: RFC 2136 updates signed with TSIG
 * (AUTOTLS_DNS_UPDATE and AUTOTLS_DNS_TSIG; this mode wins when a hook is set too), or a user's hook command
 * (AUTOTLS_DNS_HOOK) that sets and removes the TXT record at the user's DNS provider. Either way the manager
 * checks that the record is visible before the CA is told to look. See dns01.c.
 */
#ifndef AUTOTLS_SHIM_MANAGER_DNS01_H
#define AUTOTLS_SHIM_MANAGER_DNS01_H

struct at_solver;

/*
 * Fills *out with the DNS-01 solver for mgr_host->cfg. Returns 0 when AUTOTLS_DNS_UPDATE (with its TSIG key)
 * or AUTOTLS_DNS_HOOK is configured, else AT_E_STATE and *out is untouched. The solver's ctx is NULL; nothing to
 * free. present() and cleanup() update or run the hook and wait (up to 60 s for the hook, a few seconds for an
 * update, AUTOTLS_DNS_WAIT for the record): manager thread only, holding the quiesce lock (they release it
 * while they wait), never a server thread.
 */
int mgr_dns01_solver(struct at_solver *out) __attribute__((warn_unused_result));

#endif
