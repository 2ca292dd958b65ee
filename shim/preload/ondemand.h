/*
 * On-demand issuance, the handshake side: a name the shim does not manage may be asked for when
 * AUTOTLS_ON_DEMAND=1 and a policy is set. Only names that can qualify (a DNS name with a dot, letters, digits,
 * hyphens, not localhost, at most 253 bytes) and, with AUTOTLS_ALLOW, that match a pattern reach the untrusted
 * channel's request ring (shim/channel.h); the manager applies the rest of the policy (the ask URL, the rate
 * limit, backoff). No allocation, no lock, no wait: a full ring drops the request and a later handshake asks
 * again.
 */
#ifndef AUTOTLS_SHIM_PRELOAD_ONDEMAND_H
#define AUTOTLS_SHIM_PRELOAD_ONDEMAND_H

#include "shim/ondemand_policy.h"
#include "shim/channel.h"

/* Posts name to the channel's request ring (deduplicated, dropped when full). */
void ondemand_post(struct shm_channel *c, const char *name);

/* Posts that a handshake asked for name, which is served (shim/ondemand_idle.h: ONDEMAND_TOUCH_MARK and the
 * name, the same ring, deduplicated, dropped when full). */
void ondemand_touch(struct shm_channel *c, const char *name);

#endif
