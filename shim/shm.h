/*
 * The shared region: how a new certificate reaches every process of a server without a reload, including
 * workers that run as another user or in a chroot.
 *
 * The first server context of a process maps a MAP_SHARED region backed by a memfd (no name in any file
 * system) before the host forks, so the nginx master, its workers, Apache's children and any other
 * descendant share it, and so does the tree's manager process, which gets the memfd at spawn; nothing is
 * written to a file for it, so no private key becomes readable by another user. The elected manager writes the current
 * certificates (and pending TLS-ALPN-01 challenge certificates) into it under a seqlock; every process has a
 * follower that waits on the region's futex word and rebuilds its own in-process cache when it changes.
 *
 * Read-only to the server (issue 9, item 3): the memfd is mode 0400 once made, and the processes of the server
 * keep only an O_RDONLY descriptor of it and a PROT_READ mapping (no VM_MAYWRITE: mprotect to writable fails),
 * so a worker running as another user can neither write it nor reopen it for writing (/proc/self/fd/N and
 * /proc/<master>/fd/N: EACCES). Only the manager process maps it read-write (its fd 3 is opened O_RDWR in the
 * spawned child, never in the host), and an in-process leader only after it could reopen it read-write
 * itself (a privileged process or the memfd's owner; shim_host.region_writable, shim/preload/init.c). What
 * the server's processes may write lives in the untrusted channel (shim/channel.h).
 *
 * Liveness of the tree's manager process (issue 9): it holds mgr_alive, a robust process-shared mutex in the
 * region, for its whole life. When it dies in any way (SIGKILL, the OOM killer, an exit) the kernel marks the
 * mutex's word FUTEX_OWNER_DIED as part of the death (the robust futex list), before the process is even a
 * zombie: a zombie, a reused pid or a host that never reaps cannot make a dead manager look alive, and no
 * descriptor is needed to ask, so a host that closed all of its descriptors still can, by reading one word of
 * its mapping (no write: the test works on a read-only mapping too). A new manager takes the mutex over
 * (EOWNERDEAD), which is also the election among candidates: one wins, the others see it busy and exit.
 * The mutex lives here, not in the channel: only the manager process writes it (it maps the region read-write)
 * and everyone else only reads its word; in the channel a worker could take it and look like a live manager
 * for ever (no renewals), or forge its death. The words that let the tree start exactly one new manager per
 * generation (start_claim, start_at_ms) are written by the tree's processes, so they are the channel's.
 *
 * Record format (little-endian, packed one after another from data[0] to data[used]):
 *   u8 kind (SHM_CERT, SHM_CHALLENGE) | u8 name_len | name | u32 chain_len | chain PEM | u32 key_len | key PEM
 * A SHM_CERT record's name is the certificate's first name; a certificate covering several names is
 * published once per name.
 */
#ifndef AUTOTLS_SHIM_SHM_H
#define AUTOTLS_SHIM_SHM_H

#include "util/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x4154534fu /* "ATSO": read-only to the server, requests in the channel */
#define SHM_SIZE (8u << 20)  /* reserved, not committed: only written pages cost memory */

enum shm_kind { SHM_CERT = 1, SHM_CHALLENGE = 2 };

struct shm_region {
	uint32_t magic;
	_Atomic uint32_t seq;      /* seqlock: odd while the manager writes */
	_Atomic uint32_t futex;    /* bumped after every write; followers FUTEX_WAIT on it */
	_Atomic uint64_t generation;
	_Atomic uint32_t used;
	_Atomic int32_t helper_pid; /* the tree's manager process (autotls-manager), 0 when there is none; for
				     * log lines only (liveness is mgr_alive) */
	pthread_mutex_t mgr_alive;  /* robust, process-shared: held by the manager process for its life */
	_Atomic uint32_t mgr_gen;   /* bumped by each manager process once it holds mgr_alive */
	unsigned char data[];
};

#define SHM_DATA_MAX (SHM_SIZE - sizeof(struct shm_region))

/* Makes a new region, backed by a memfd (so that the manager process can map it too): initialises it, makes
 * the memfd mode 0400, and leaves only a read-only view: *out is a PROT_READ mapping, *fd an O_RDONLY
 * descriptor (close-on-exec) reopened through /proc/self/fd; the read-write descriptor is closed. Both are
 * kept for the life of the process. Returns 0, AT_E_IO (no memfd, or no /proc to reopen it read-only) or
 * AT_E_NOMEM (no mapping, or no liveness mutex in it). */
int shm_create(struct shm_region **out, int *fd) AT_MUST_CHECK;

/* Maps an existing region from a memfd into *out: read-write when fd was opened O_RDWR (the manager process),
 * read-only otherwise. Returns 0, AT_E_INVAL when fd is not a region's memfd, or AT_E_NOMEM (no mapping). */
int shm_map_fd(struct shm_region **out, int fd) AT_MUST_CHECK;

/* A new O_RDWR descriptor (close-on-exec) of the region's memfd, reopened from fd (any descriptor of it)
 * through /proc/self/fd: a process with CAP_DAC_OVERRIDE can, the memfd's owner can (it makes the memfd 0600
 * for the reopen and 0400 again), nobody else. Returns the descriptor, or -errno (EACCES in a worker running
 * as another user). */
int shm_open_writable(int fd);

/* The tree's manager process as mgr_alive tells it: one never took it, one holds it, or the last one died. A
 * plain read of the mutex word. */
enum shm_manager_state { SHM_MANAGER_NONE, SHM_MANAGER_ALIVE, SHM_MANAGER_GONE };
enum shm_manager_state shm_manager_state(const struct shm_region *r);

/* The manager process: takes mgr_alive for the rest of its life (from the calling thread, which must never
 * exit before the process does), bumps mgr_gen and writes its pid. Returns 0 (*took_over 1 when a dead
 * manager held it), or AT_E_LOCKED when a live manager holds it. */
int shm_manager_claim(struct shm_region *r, int *took_over) AT_MUST_CHECK;

/* Replaces the content with payload[0..len) (the manager's thread only, through a writable mapping) and wakes
 * every follower.
 * Returns 0 or AT_E_TOOBIG. */
int shm_write(struct shm_region *r, const void *payload, size_t len) AT_MUST_CHECK;

/* Copies a consistent content into *out (new, caller frees with shm_copy_free) and its generation.
 * Returns 0, AT_E_NOMEM, AT_E_NOTFOUND when nothing was ever written, or AT_E_TIMEOUT when no consistent
 * copy could be made within a bounded wait (a writer stopped in the middle: never a spin without end). */
int shm_read(const struct shm_region *r, unsigned char **out, size_t *len, uint64_t *generation) AT_MUST_CHECK;
void shm_copy_free(unsigned char *p, size_t len);

/* Waits until the futex word differs from seen or timeout_ms passes. */
void shm_wait(struct shm_region *r, uint32_t seen, int timeout_ms);

/* Appends one record to a payload being built. Returns 0, AT_E_INVAL (a name of 0 or over 255 bytes),
 * AT_E_TOOBIG, AT_E_NOMEM. */
struct at_buf;
int shm_append_record(struct at_buf *b, enum shm_kind kind, const char *name, const char *chain, size_t chain_len,
		      const char *key, size_t key_len) AT_MUST_CHECK;

struct shm_record {
	enum shm_kind kind;
	char name[256];
	const char *chain; /* borrowed from the payload */
	size_t chain_len;
	const char *key;
	size_t key_len;
};

/* Iterates records: *off starts at 0. Returns 0 with rec filled, AT_E_NOTFOUND after the last record, or
 * AT_E_PARSE on a malformed payload. */
int shm_next_record(const unsigned char *p, size_t len, size_t *off, struct shm_record *rec) AT_MUST_CHECK;

#endif
