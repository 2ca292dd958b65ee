/*
 * The handshake path: the callbacks the shim installs on every server-capable SSL_CTX, chained in front of the
 * host's own (research/interposition.md section 3.3, "Option B"):
 *   ClientHello: parse SNI and ALPN; a connection offering only "acme-tls/1" for a name with a pending
 *     challenge is marked (and gets no session ticket); then the host's callback runs, its answer returned;
 *   ALPN: a marked connection gets "acme-tls/1"; every other one gets the host's answer (or none);
 *   certificate: the host's callback first; then, on a server, a marked connection gets the challenge
 *     certificate and a managed name gets the managed certificate (the slots cleared first, so a host with an
 *     RSA and an ECDSA certificate cannot still pick its own). Everything else is left exactly as the host set.
 *   OCSP status (RFC 6066 section 8): a connection served a managed certificate whose client asked gets the
 *     response the manager fetched for it (shim/manager/staple.c), or none; every other connection gets the
 *     host's own status callback (SSL_CTX_set_tlsext_status_cb, taken behind ours), its own stapling untouched.
 * The certificate callback runs after any SSL_set_SSL_CTX the host did, in TLS 1.2 and 1.3 alike.
 * Nothing here blocks, locks, or allocates for a managed or unmanaged name; a marked connection may sync the
 * challenge table once (a rare handshake from the CA's validator).
 */
#ifndef AUTOTLS_SHIM_PRELOAD_HOOKS_H
#define AUTOTLS_SHIM_PRELOAD_HOOKS_H

#include "util/err.h"

#include <openssl/ssl.h>
#include <stdbool.h>

/* Installs the shim's callbacks on a new server-capable context. Returns 0, AT_E_STATE when the shim is passive
 * (OpenSSL's functions or the ex_data indexes could not be had) or AT_E_NOMEM; on an error the context stays as
 * the host made it. */
int hooks_install(SSL_CTX *ctx) AT_MUST_CHECK;

/* Whether ctx carries the shim's callbacks. */
bool hooks_installed(const SSL_CTX *ctx);

/* Remember the host's callback (and keep ours). Each returns 0 when ctx/ssl is hooked and the callback was
 * taken; otherwise the caller passes the call through to OpenSSL: AT_E_NOTFOUND when ctx/ssl is not hooked,
 * AT_E_NOMEM when the SSL's slot for it could not be made. */
int hooks_take_client_hello_cb(SSL_CTX *ctx, SSL_client_hello_cb_fn cb, void *arg) AT_MUST_CHECK;
int hooks_take_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *), void *arg) AT_MUST_CHECK;
int hooks_take_ssl_cert_cb(SSL *ssl, int (*cb)(SSL *, void *), void *arg) AT_MUST_CHECK;
int hooks_take_alpn_cb(SSL_CTX *ctx, SSL_CTX_alpn_select_cb_func cb, void *arg) AT_MUST_CHECK;
int hooks_take_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *)) AT_MUST_CHECK;
/* SSL_CTX_ctrl's status callback commands on a hooked ctx (set the argument, get the callback or the argument):
 * answered from the host's own values (*ret); AT_E_NOTFOUND for any other command or ctx (pass it through). */
int hooks_status_ctrl(SSL_CTX *ctx, int cmd, void *parg, long *ret) AT_MUST_CHECK;

/* Called by the manager side: sync the local cache from the shared region now (set once at attach). */
extern int (*hooks_sync_now)(void);
/* Set by the manager side only in a process that cannot have a manager thread (shim/manager/threadless.c):
 * every server handshake calls it first, and it follows the store at most every few seconds (the one place
 * the handshake path may read files: a few milliseconds after a change, nothing otherwise). NULL elsewhere. */
extern int (*hooks_poll)(void);

/* On-demand issuance: the configuration (NULL: off), the region its certificates come through and the channel
 * requests are posted to; set by init.c. */
struct shim_config;
struct shm_region;
struct shm_channel;
extern const struct shim_config *hooks_on_demand;
extern struct shm_region *hooks_on_demand_region;
extern struct shm_channel *hooks_on_demand_channel;

#endif
