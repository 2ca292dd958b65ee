/*
 * Renewal while clients keep coming (test_330 and test_335): Pebble issues 16-second certificates, so the
 * manager renews when half the lifetime is left (every ~8 s). A client loops full handshakes (verified against
 * Pebble's root, a new connection each time) through at least two renewals: no handshake fails, the serial
 * changes at least twice, and every worker ends up serving the newest certificate (checked over many
 * connections at the end).
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_RENEWAL_H
#define AUTOTLS_TESTS_HARNESS_SHIM_RENEWAL_H

#include "tests/harness/servers.h"

/* The whole scenario for a server of kind, from start to stop, as CHECKs (logs dumped when one failed). */
void shim_renew_under_load(enum server_kind kind);

#endif
