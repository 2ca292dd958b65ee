/*
 * The client side of a shim scenario: handshakes to the server of a shim_env (shim_env.h), quiet when a poll
 * makes hundreds of them, and the polls themselves (until the managed name verifies, until a new serial is
 * served).
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_CLIENT_H
#define AUTOTLS_TESTS_HARNESS_SHIM_CLIENT_H

#include "tests/harness/shim_env.h"
#include "tests/harness/tlsverify.h"

#include <stddef.h>

/* One handshake to e's server for name, offering alpn (NULL: none) at version (0: any), verified against
 * root_file (NULL: not verified), with the client's stderr chatter silenced. 0 or -1, res as tls_client_connect. */
int shim_try_root(const struct shim_env *e, const char *name, const char *alpn, int version, const char *root_file,
		  struct tls_client_result *res);

/* One quiet handshake for name verified against Pebble's issuing root (shim_try_root). */
int shim_try_verified(const struct shim_env *e, const char *name, const char *alpn, int version,
		      struct tls_client_result *res);

/* One quiet handshake for SHIM_NAME verified against root_file (NULL: none); res cleared first. */
int shim_try(const struct shim_env *e, const char *root_file, struct tls_client_result *res);

/* n quiet handshakes for SHIM_NAME verified against Pebble's issuing root, one after another; how many verified. */
int shim_count_verified(const struct shim_env *e, int n);

/* Polls every SHIM_POLL_MS until a client trusting only Pebble's root verifies name; the elapsed ms, or -1 (with
 * the last handshake's reasons and what it was served printed). */
long shim_wait_verified(const struct shim_env *e, const char *name, long timeout_ms);

/* Polls every SHIM_POLL_MS until a handshake for SHIM_NAME verified against root_file shows a serial other than
 * old (NULL: any); the elapsed ms (the serial into out), or -1. */
long shim_wait_serial(const struct shim_env *e, const char *root_file, const char *old, long timeout_ms, char *out,
		      size_t cap);

#endif
