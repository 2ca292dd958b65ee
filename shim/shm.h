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
 * Liveness of the tree's manager process (issue 9): it holds mgr_alive, a robust process-shared mutex in the
 * region, for its whole life. When it dies in any way (SIGKILL, the OOM killer, an exit) the kernel marks the
 * mutex's word FUTEX_OWNER_DIED as part of the death (the robust futex list), before the process is even a
 * zombie: a zombie, a reused pid or a host that never reaps cannot make a dead manager look alive, and no
 * descriptor is needed to ask, so a host that closed all of its descriptors still can, by reading one word of
 * its mapping (no write: the test works on a read-only mapping too). A new manager takes the mutex over
 * (EOWNERDEAD), which is also the election among candidates: one wins, the others see it busy and exit.
 * start_claim and start_at_ms let the tree start exactly one new manager per generation (lead.c).
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

#define SHM_MAGIC 0x4154534eu /* "ATSN": the layout with mgr_alive */
#define SHM_SIZE (8u << 20)  /* reserved, not committed: only written pages cost memory */

enum shm_kind { SHM_CERT = 1, SHM_CHALLENGE = 2 };

/* On-demand requests (see shim/preload/ondemand.c): names a handshake saw that the manager may issue for. A
 * slot is 0 free, 1 being written, 2 ready, 3 being taken. Writers probe a few slots from the name's hash;
 * when they are all busy the request is dropped (a later handshake asks again). */
#define SHM_REQ_SLOTS 64
#define SHM_REQ_PROBE 4
struct shm_request {
	_Atomic uint32_t state;
	char name[256];
};

struct shm_region {
	uint32_t magic;
	_Atomic uint32_t seq;      /* seqlock: odd while the manager writes */
	_Atomic uint32_t futex;    /* bumped after every write; followers FUTEX_WAIT on it */
	_Atomic int32_t leader_pid;
	_Atomic uint64_t generation;
	_Atomic uint32_t used;
	_Atomic int32_t helper_pid; /* the tree's manager process (autotls-manager), 0 when there is none; for
				     * log lines only (liveness is mgr_alive) */
	_Atomic uint32_t req_futex; /* bumped after every posted request; the manager waits on it */
	pthread_mutex_t mgr_alive;  /* robust, process-shared: held by the manager process for its life */
	_Atomic uint32_t mgr_gen;   /* bumped by each manager process once it holds mgr_alive */
	_Atomic uint32_t start_claim; /* mgr_gen + 1 of the generation a manager start was made for */
	_Atomic uint32_t gone_logged; /* mgr_gen + 1 of the last generation whose end was logged */
	_Atomic int64_t start_at_ms;  /* CLOCK_MONOTONIC ms of the last start, 0 when it failed */
	struct shm_request req[SHM_REQ_SLOTS];
	unsigned char data[];
};

#define SHM_DATA_MAX (SHM_SIZE - sizeof(struct shm_region))

/* Maps a new region, backed by a memfd (so that the manager process can map it too), into *out; *fd gets the
 * memfd (close-on-exec). Both are kept for the life of the process. Returns 0, AT_E_IO (no memfd) or
 * AT_E_NOMEM (no mapping, or no liveness mutex in it). */
int shm_create(struct shm_region **out, int *fd) AT_MUST_CHECK;

/* Maps an existing region from a memfd (the manager process) into *out. Returns 0, AT_E_INVAL when fd is not
 * a region's memfd, or AT_E_NOMEM (no mapping). */
int shm_map_fd(struct shm_region **out, int fd) AT_MUST_CHECK;

/* The tree's manager process as mgr_alive tells it: one never took it, one holds it, or the last one died. A
 * plain read of the mutex word. */
enum shm_manager_state { SHM_MANAGER_NONE, SHM_MANAGER_ALIVE, SHM_MANAGER_GONE };
enum shm_manager_state shm_manager_state(const struct shm_region *r);

/* The manager process: takes mgr_alive for the rest of its life (from the calling thread, which must never
 * exit before the process does), bumps mgr_gen and writes its pid. Returns 0 (*took_over 1 when a dead
 * manager held it), or AT_E_LOCKED when a live manager holds it. */
int shm_manager_claim(struct shm_region *r, int *took_over) AT_MUST_CHECK;

/* Replaces the content with payload[0..len) (the manager's thread only) and wakes every follower.
 * Returns 0 or AT_E_TOOBIG. */
int shm_write(struct shm_region *r, const void *payload, size_t len) AT_MUST_CHECK;

/* Copies a consistent content into *out (new, caller frees with shm_copy_free) and its generation.
 * Returns 0, AT_E_NOMEM, AT_E_NOTFOUND when nothing was ever written, or AT_E_TIMEOUT when no consistent
 * copy could be made within a bounded wait (a writer stopped in the middle: never a spin without end). */
int shm_read(const struct shm_region *r, unsigned char **out, size_t *len, uint64_t *generation) AT_MUST_CHECK;
void shm_copy_free(unsigned char *p, size_t len);

/* Waits until the futex word differs from seen or timeout_ms passes. */
void shm_wait(struct shm_region *r, uint32_t seen, int timeout_ms);

/* Takes one posted on-demand request into name (256 bytes). Returns 0 when one was taken, AT_E_NOTFOUND when
 * none is posted. */
int shm_take_request(struct shm_region *r, char name[256]) AT_MUST_CHECK;

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
