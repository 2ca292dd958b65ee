/*
 * A server's shared region (shim/shm.h) seen from a test, as any process of that server could see it: mapped
 * read-write through the server process's own memfd (the test runs as root, or as the server's user), to leave
 * it half-written or to write into its on-demand request ring directly.
 */
#ifndef AUTOTLS_TESTS_HARNESS_REGION_H
#define AUTOTLS_TESTS_HARNESS_REGION_H

#include "shim/shm.h"

#include <sys/types.h>

/* Maps the region of process pid (SHM_SIZE bytes, read-write). NULL when it has none we can open. Unmap with
 * munmap(r, SHM_SIZE). */
struct shm_region *harness_region_of(pid_t pid);

/* Writes the 256 bytes of name, as they are (no NUL needed), into a free request slot and wakes the manager,
 * as a worker's handshake would. Waits up to 10 s for a free slot. 0 or -1. */
int harness_region_post_raw(struct shm_region *r, const char name[256]);

/* harness_region_post_raw of a NUL-terminated name (cut at 255 bytes). */
int harness_region_post(struct shm_region *r, const char *name);

/* Leaves the region as a writer stopped in the middle of its copy would (an odd sequence, a new generation)
 * and wakes every follower. */
void harness_region_leave_mid_write(struct shm_region *r);

#endif
