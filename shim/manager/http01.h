/*
 * HTTP-01 for the shim's manager (RFC 8555 section 8.3): a solver that either answers on a port of its own
 * (a responder thread that exists only while a challenge is pending) or writes the key authorization under
 * AUTOTLS_WEBROOT for the host's own web server to serve. See http01.c.
 */
#ifndef AUTOTLS_SHIM_MANAGER_HTTP01_H
#define AUTOTLS_SHIM_MANAGER_HTTP01_H

struct at_solver;

/*
 * Fills *out with the HTTP-01 solver for mgr_host->cfg: webroot mode when AUTOTLS_WEBROOT is set, else the
 * built-in responder on AUTOTLS_HTTP_PORT. Returns 0 when HTTP-01 can be offered; else a negative error and
 * *out is untouched (the reason is logged at info, once per reason): AT_E_NOTFOUND (the webroot is not a
 * folder), AT_E_PERM (the webroot is not writable, or this user may not bind the port), AT_E_STATE (no
 * configuration). A port that is merely in use now is not a reason: present() then fails with AT_E_NET and the
 * client goes on to another challenge type. The solver's ctx is static; nothing to free.
 * Manager thread only (present and cleanup too).
 */
int mgr_http01_solver(struct at_solver *out) __attribute__((warn_unused_result));

#endif
