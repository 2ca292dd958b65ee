/*
 * On-demand issuance, the handshake side: a name the shim does not manage may be asked for when
 * AUTOTLS_ON_DEMAND=1 and a policy is set. Only names that can qualify (a DNS name with a dot, letters, digits,
 * hyphens, not localhost, at most 253 bytes) and, with AUTOTLS_ALLOW, that match a pattern reach the shared
 * region's request ring; the manager applies the rest of the policy (the ask URL, the rate limit, backoff).
 * No allocation, no lock, no wait: a full ring drops the request and a later handshake asks again.
 */
#ifndef AUTOTLS_SHIM_PRELOAD_ONDEMAND_H
#define AUTOTLS_SHIM_PRELOAD_ONDEMAND_H

#include "shim/ondemand_policy.h"
#include "shim/shm.h"

/* Posts name to the region's request ring (deduplicated, dropped when full). */
void ondemand_post(struct shm_region *r, const char *name);

#endif
