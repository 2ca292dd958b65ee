/*
 * The untrusted channel (issue 9, item 3): the few words that every process of a server tree, a worker running
 * as www-data included, legitimately writes, kept out of the shared region so that the region itself can be
 * read-only to them (shim/shm.h).
 *
 * What lives here: the on-demand request ring (a handshake posts a name the manager may issue for, and wakes
 * it through req_futex), the in-process publisher slot (leader_pid, used only when the tree has no manager
 * process), the words by which the tree's processes agree on restarting a dead manager process
 * (start_claim, start_at_ms, gone_logged), and what each process says it serves (seen: `autotls status`
 * displays it). What never lives here: certificates, keys, anything the manager publishes, and the manager's
 * liveness mutex (shm.h says why).
 *
 * Who writes it: any process of the tree, so everything read from it is untrusted input. The manager process
 * takes names from the ring only through chan_take_request (a fixed-size copy, always NUL-terminated) and
 * checks each against the whole on-demand policy (shim/manager/ondemand.c); the restart words can at worst
 * delay a restart by START_GRACE_MS or silence one log line (shim/manager/lead.c clamps what it reads), and a
 * forged leader_pid can stop in-process publishing from the store in a tree without a manager process: denial
 * of service a worker could do anyway, never a word of what the region says. The
 * memfd is sealed against shrinking (F_SEAL_SHRINK), so that no writer can truncate it under the manager's
 * mapping (which would kill the manager with SIGBUS); chan_map_fd refuses a channel without that seal.
 *
 * It is its own memfd ("autotls-chan"), made beside the region by the process that makes the region, mapped
 * read-write before the host forks, and handed to the manager process as its fd 5.
 */
#ifndef AUTOTLS_SHIM_CHANNEL_H
#define AUTOTLS_SHIM_CHANNEL_H

#include "util/err.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CHAN_MAGIC 0x41544352u /* "ATCR" */

/* On-demand requests (see shim/preload/ondemand.c): names a handshake saw that the manager may issue for. A
 * slot is 0 free, 1 being written, 2 ready, 3 being taken. Writers probe a few slots from the name's hash;
 * when they are all busy the request is dropped (a later handshake asks again). */
#define CHAN_REQ_SLOTS 64
#define CHAN_REQ_PROBE 4
struct chan_request {
	_Atomic uint32_t state;
	char name[256];
};

/* What each process of the tree says it serves (shim/manager/seen.c): its pid, the region generation its cache
 * was last synced to, and when (CLOCK_REALTIME ms: a heartbeat, the manager thread syncs every 250 ms). Written
 * by the process itself, so untrusted: `autotls status` displays it, nothing decides on it. */
#define CHAN_SEEN_SLOTS 512
struct chan_seen {
	_Atomic int32_t pid; /* 0: free */
	uint32_t pad;
	_Atomic uint64_t generation;
	_Atomic int64_t at_ms;
};

struct shm_channel {
	uint32_t magic;
	_Atomic uint32_t req_futex;   /* bumped after every posted request; the manager waits on it */
	_Atomic int32_t leader_pid;   /* the in-process publisher of a tree without a manager process (lead.c) */
	_Atomic uint32_t start_claim; /* mgr_gen + 1 of the generation a manager start was made for */
	_Atomic uint32_t gone_logged; /* mgr_gen + 1 of the last generation whose end was logged */
	_Atomic int64_t start_at_ms;  /* CLOCK_MONOTONIC ms of the last start, 0 when it failed */
	struct chan_request req[CHAN_REQ_SLOTS];
	struct chan_seen seen[CHAN_SEEN_SLOTS]; /* seen.c */
};

/* The memfd's size: the struct rounded up to whole pages. */
#define CHAN_SIZE ((sizeof(struct shm_channel) + 4095u) & ~(size_t)4095u)

/* Makes a new channel (a sealed memfd, close-on-exec) and maps it read-write into *out; *fd gets the memfd.
 * Returns 0, AT_E_IO (no memfd or no seal) or AT_E_NOMEM (no mapping). */
int chan_create(struct shm_channel **out, int *fd) AT_MUST_CHECK;

/* Maps an existing channel from fd (the manager process) read-write. Returns 0, AT_E_INVAL when fd is not a
 * sealed channel of CHAN_SIZE, or AT_E_NOMEM. */
int chan_map_fd(struct shm_channel **out, int fd) AT_MUST_CHECK;

/* Takes one posted on-demand request into name (256 bytes, always NUL-terminated, whatever the slot held).
 * Returns 0 when one was taken, AT_E_NOTFOUND when none is posted. Never blocks. */
int chan_take_request(struct shm_channel *c, char name[256]) AT_MUST_CHECK;

#endif
