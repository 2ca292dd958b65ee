/*
 * A server's shared region (shim/shm.h) and untrusted channel (shim/channel.h) seen from a test. The region is
 * mapped read-write through the server process's own memfd (the test runs as root, or as the memfd's owner: it
 * lifts the 0400 for its reopen), as no process of the server can any more: to leave it half-written. The
 * channel is mapped as any process of the server holds it, to write into its on-demand request ring directly.
 */
#ifndef AUTOTLS_TESTS_HARNESS_REGION_H
#define AUTOTLS_TESTS_HARNESS_REGION_H

#include "shim/channel.h"
#include "shim/shm.h"

#include <sys/types.h>

/* Maps the region of process pid (all of it, read-write). NULL when it has none we can open. Unmap with
 * munmap(r, shm_size(r)). */
struct shm_region *harness_region_of(pid_t pid);

/* Maps the channel of process pid (CHAN_SIZE bytes, read-write). NULL when it has none we can open. Unmap with
 * munmap(c, CHAN_SIZE). */
struct shm_channel *harness_channel_of(pid_t pid);

/* Writes the 256 bytes of name, as they are (no NUL needed), into a free request slot and wakes the manager,
 * as a worker's handshake would. Waits up to 10 s for a free slot. 0 or -1. */
int harness_channel_post_raw(struct shm_channel *c, const char name[256]);

/* harness_channel_post_raw of a NUL-terminated name (cut at 255 bytes). */
int harness_channel_post(struct shm_channel *c, const char *name);

/* Leaves the region as a writer stopped in the middle of its copy would (an odd sequence, a new generation)
 * and wakes every follower. */
void harness_region_leave_mid_write(struct shm_region *r);

#endif
