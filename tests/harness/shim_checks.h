/*
 * The checks shim scenarios make, as CHECKs that fail the calling test (tests/test.h): both TLS versions
 * verify, a name the shim does not manage keeps the server's own certificate, the store's permissions, the
 * log's hygiene, and a restart that reuses the stored certificate without a new order.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_CHECKS_H
#define AUTOTLS_TESTS_HARNESS_SHIM_CHECKS_H

#include "tests/harness/shim_env.h"

/* TLS 1.2 and TLS 1.3 handshakes for SHIM_NAME both verify against Pebble's root, with the same serial, which
 * is not the placeholder's. */
void shim_check_versions(const struct shim_env *e);

/* A client that trusts nothing, asking for sni, sees the certificate with serial and subject /CN=cn: the
 * server's own, untouched. */
void shim_check_untouched(const struct shim_env *e, const char *sni, const char *cn, const char *serial);

/* Every folder in the store is 0700, every key file (named *key* or holding a PEM private key) is 0600, and
 * there is at least one key file. */
void shim_check_store_perms(const struct shim_env *e);

/* The shim's log exists, names no private key and holds no base64 blob (a run of more than 60 base64 or
 * base64url characters that is not a URL, a path or hex alone: a PEM body line, a JWS, a DER blob). */
void shim_check_log(const struct shim_env *e);

/* Stops the server and starts it again on the same port, store and log: the stored certificate must be served
 * (verified) within SHIM_RESTART_TIMEOUT_MS of the start, and Pebble must see no new order (checked again a
 * second later). */
void shim_check_restart(struct shim_env *e);

#endif
