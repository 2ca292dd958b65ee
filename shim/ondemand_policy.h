/*
 * The on-demand policy's syntax and allowlist, applied twice: by the handshake path before it posts a name
 * (shim/preload/ondemand.c), and again by the manager for every name it takes from the request ring
 * (shim/manager/ondemand.c), because any process of the server, a worker running as www-data included, can write
 * into the ring: what reaches the root manager from there is untrusted input. Needs only libc.
 */
#ifndef AUTOTLS_SHIM_ONDEMAND_POLICY_H
#define AUTOTLS_SHIM_ONDEMAND_POLICY_H

#include "shim/config.h"

#include <stdbool.h>

/* Whether name (lowercase, NUL-terminated) may be asked for under cfg's policy: a DNS name with a dot, of
 * letters, digits and hyphens, not localhost, not an address, at most 253 bytes, and with AUTOTLS_ALLOW a
 * match of one of its patterns. The ask URL and the rate are the manager's. */
bool ondemand_qualifies(const struct shim_config *cfg, const char *name);

#endif
