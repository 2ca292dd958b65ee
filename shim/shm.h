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
 * Data (issue 9 item 4: a change costs what changed, not what the region holds). data[] holds a directory and a
 * heap (struct shm_dir): one slot per record, each with the region generation at which its record was last
 * written (its version), the record's place in the heap and its length (0: a free slot). A write appends the
 * record's bytes to the heap where no slot points yet, then, under the seqlock, points its slot at them with a
 * new version: the seqlock covers a few words, not the region. A follower walks the slots (a few instructions
 * each), copies only the records whose version differs from the one it parsed, and keeps the parsed objects of
 * all the others (shim/manager/sync.c). The heap has two halves; when the current one is full the writer copies
 * the live records into the other one and flips (no version changes: nothing is parsed again), so replaced
 * records never fill the region. An unchanged record is never written again (shm_put says AT_E_STATE).
 *
 * Record format (little-endian), one record per slot:
 *   u8 kind (SHM_CERT, SHM_CHALLENGE) | u8 name_len | name | u32 chain_len | chain PEM | u32 key_len | key PEM |
 *   i64 not_after | u8 nnames | nnames x (u8 len | name) | u8 blob_len | [blob name | u32 slot | u64 version] |
 *   u32 ocsp_len | ocsp DER | i64 ocsp_until
 * A SHM_CERT record's name is the certificate's first name. not_after and the names the certificate covers are
 * the writer's reading of the leaf (the manager parses each certificate once, when it publishes it): with them a
 * follower indexes the record without parsing any PEM, and parses it only when a handshake first asks for one
 * of its names (sync.c). nnames 0: no such reading (challenge certificates): parsed when read. A certificate
 * record with a blob holds its leaf alone; its intermediates are the blob's chain (a SHM_BLOB record, whose
 * chain is the PEM and key empty), which never changes under its name. A certificate record may carry the OCSP
 * response the manager fetched for it (shim/manager/staple.c) and the time it stops being stapled (its
 * nextUpdate); ocsp_len 0: none. A refresh rewrites the record with the same certificate: a follower takes the
 * new staple, and parses the certificate again only where it had parsed it (sync.c).
 */
#ifndef AUTOTLS_SHIM_SHM_H
#define AUTOTLS_SHIM_SHM_H

#include "util/err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x41545345u /* "ATSE": a directory of versioned records, read-only to the server */
/* Reserved address space, not memory: the memfd is sparse and mapped MAP_NORESERVE, so only the pages written
 * cost memory (about 1.1 KiB per on-demand certificate: its PEM leaf and key, and its names; the intermediate
 * in a shared blob). But address space is what RLIMIT_AS counts, and servers cap it in the processes they fork
 * after our mapping is made (vsftpd's sessions at 200 MiB, Dovecot's vsz_limit): a tree that can only hold its
 * few configured certificates (AUTOTLS_DOMAINS alone: one certificate and its challenge certificates) gets
 * SHM_SIZE_SMALL; one that can hold many (on-demand, a sites file) gets SHM_SIZE_LARGE, some 470,000 of them
 * (each heap half holds the live records; 100,000 used 106 MiB in `make bench`). The creator writes the size
 * into the header before anyone else maps it, and nobody changes it; a mapping checks it against the memfd's. A
 * full region is logged and the publish retried (AT_E_TOOBIG). */
#define SHM_SIZE_LARGE (1u << 30)
#define SHM_SIZE_SMALL (48u << 20) /* the directory's 16 MiB and two heap halves of 16 MiB */
#define SHM_SLOTS (1u << 20) /* directory capacity: 16 MiB of the reservation, touched only as used */

/* SHM_BLOB: bytes several records share, named by their SHA-256 (the intermediates of a CA: stored once, however
 * many certificates name them; a certificate record refers to its blob by name, slot and version). */
enum shm_kind { SHM_CERT = 1, SHM_CHALLENGE = 2, SHM_BLOB = 3 };

struct shm_region {
	uint32_t magic;
	uint32_t size;             /* of the mapping, SHM_SIZE_SMALL or SHM_SIZE_LARGE: written once, by the creator */
	_Atomic uint32_t seq;      /* seqlock: odd while the manager writes */
	_Atomic uint32_t futex;    /* bumped after every write; followers FUTEX_WAIT on it */
	_Atomic uint64_t generation;
	_Atomic uint32_t used;
	_Atomic int32_t helper_pid; /* the tree's manager process (autotls-manager), 0 when there is none; for
				     * log lines only (liveness is mgr_alive) */
	pthread_mutex_t mgr_alive;  /* robust, process-shared: held by the manager process for its life */
	_Atomic uint32_t mgr_gen;   /* bumped by each manager process once it holds mgr_alive */
	/* The directory (struct shm_dir: 64-bit atomics) starts here: aligned for it, whatever the header above. */
	_Alignas(16) unsigned char data[];
};

static inline size_t shm_size(const struct shm_region *r)
{
	return r->size;
}

/* Makes a new region, backed by a memfd (so that the manager process can map it too): initialises it, makes
 * the memfd mode 0400, and leaves only a read-only view: *out is a PROT_READ mapping, *fd an O_RDONLY
 * descriptor (close-on-exec) reopened through /proc/self/fd; the read-write descriptor is closed. Both are
 * kept for the life of the process. size is SHM_SIZE_SMALL or SHM_SIZE_LARGE (the mapping's, recorded in the
 * header; AT_E_INVAL otherwise). Returns 0, AT_E_IO (no memfd, or no /proc to reopen it read-only) or
 * AT_E_NOMEM (no mapping, or no liveness mutex in it). */
int shm_create(struct shm_region **out, int *fd, size_t size) AT_MUST_CHECK;

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

/* The directory at data[0] (see the top of this file). Slot fields are written by the writer under the
 * seqlock and read by followers under it (relaxed atomics: a torn read is caught by the sequence check). */
struct shm_slot {
	_Atomic uint64_t version; /* generation of the last write of this slot; 0: never written */
	_Atomic uint32_t off;     /* of the record, from the heap's start */
	_Atomic uint32_t len;     /* 0: free (a withdrawn record) */
};
#define SHM_RING 1024 /* the last writes' slots, so that a follower that kept up reads those slots only */
struct shm_dir {
	_Atomic uint32_t nslots; /* slots in use (high-water mark; slots at and above it are free) */
	_Atomic uint32_t half;   /* the heap half records are appended to (0 or 1) */
	_Atomic uint32_t fill;   /* bytes used in that half */
	uint32_t pad;
	_Atomic uint64_t nwrites;        /* slot writes so far; the slot of write w is ring[w % SHM_RING] */
	_Atomic uint32_t ring[SHM_RING];
	struct shm_slot slot[SHM_SLOTS];
};
#define SHM_HEAP_OFF sizeof(struct shm_dir)
/* The size of each heap half of r. */
static inline uint32_t shm_half(const struct shm_region *r)
{
	return (uint32_t)((r->size - sizeof(struct shm_region) - SHM_HEAP_OFF) / 2);
}

struct shm_record;
/* The writer's side (one thread of one process at a time: the tree's publisher, under its own lock). On its
 * first write to a region the process adopts the records already there (a manager that took over keeps what
 * its predecessor published: nothing is parsed again for a restart), dropping challenge records.
 * shm_put writes a record for (kind, name), replacing the one there; AT_E_STATE when the record there is
 * byte for byte the same (nothing is written, nobody wakes); AT_E_TOOBIG when the live records would not fit
 * (the caller logs and retries), AT_E_INVAL for a name of 0 or over 255 bytes, AT_E_NOMEM.
 * shm_drop withdraws it (0 or AT_E_NOTFOUND). Both wake every follower after a change. */
struct shm_meta {
	int64_t not_after;
	size_t nnames; /* at most 255 */
	char **names;
	const char *blob; /* NULL, or the SHM_BLOB record holding the intermediates */
	uint32_t blob_slot;
	uint64_t blob_version;
	const unsigned char *ocsp; /* NULL, or the OCSP response to staple (at most SHM_OCSP_MAX bytes) */
	size_t ocsp_len;
	int64_t ocsp_until;        /* unix seconds: not stapled from then on */
};
#define SHM_OCSP_MAX (64u * 1024)
int shm_put(struct shm_region *r, enum shm_kind kind, const char *name, const char *chain, size_t chain_len,
	    const char *key, size_t key_len, const struct shm_meta *meta) AT_MUST_CHECK;
int shm_drop(struct shm_region *r, enum shm_kind kind, const char *name) AT_MUST_CHECK;
/* Where the writer put (kind, name): its slot and version. 0 or AT_E_NOTFOUND. */
int shm_slot_of(struct shm_region *r, enum shm_kind kind, const char *name, uint32_t *slot, uint64_t *version)
	AT_MUST_CHECK;

/* A batch of writes (the stored certificates loaded at start): with on, writes wake no follower; off wakes
 * them once if anything was written. Followers still look every 250 ms (lead.c), so each builds a few
 * snapshots during a long batch instead of one per record. The writer's thread, as shm_put. */
void shm_hold_wakes(struct shm_region *r, int on);

/* A process-private region (anonymous memory, same layout, SHM_SIZE_LARGE) for a process that has no shared
 * one; NULL when it cannot be mapped. */
struct shm_region *shm_create_private(void);

/* What changed for a follower: one entry per slot whose version differs from the one the follower knows. */
struct shm_change {
	uint32_t slot;
	uint64_t version;
	const unsigned char *rec; /* the record's bytes, in the change set's own copy; NULL: the slot is free */
	size_t len;
};
struct shm_changes {
	struct shm_change *v;
	size_t n;
	uint64_t nwrites;    /* the directory's write count at the read: the next read's since */
	uint32_t nslots;     /* the directory's slot count at the read */
	uint64_t generation; /* the region's generation at the read */
	unsigned char *copy; /* owned (secret: private keys), the records' bytes */
	size_t copy_len;
};

/* Reads, consistently (seqlock), every slot whose version differs from known[slot] (slots at or above nknown
 * are known as version 0, i.e. free) and copies only those records. since: the nwrites of the follower's last
 * read (0: none): when the ring still holds every write after it, only the slots written since are looked at
 * (O(changes)), else every slot (a compare each). Returns 0, AT_E_NOTFOUND when nothing was
 * ever written, AT_E_PARSE when the directory is not one (a slot outside the heap: a region scribbled on),
 * AT_E_NOMEM, or AT_E_TIMEOUT when no consistent read could be made within a bounded wait (a writer stopped in
 * the middle: never a spin without end). */
int shm_read_changes(const struct shm_region *r, const uint64_t *known, size_t nknown, uint64_t since,
		     struct shm_changes *out) AT_MUST_CHECK;
void shm_changes_free(struct shm_changes *c);

/* A copy of one slot's record while its version is still version (a handshake's first use of a record parsed
 * lazily): *out is new, freed with shm_copy_free (it holds a private key). 0, AT_E_STATE (the slot was written
 * again or withdrawn since: a newer snapshot is on its way), AT_E_PARSE (outside the heap), AT_E_NOMEM or
 * AT_E_TIMEOUT (a write section that did not end within a bounded number of reads: no sleep, no lock; a
 * handshake's thread calls it). */
int shm_read_slot(const struct shm_region *r, uint32_t slot, uint64_t version, unsigned char **out, size_t *len)
	AT_MUST_CHECK;
void shm_copy_free(unsigned char *p, size_t len);

/* Parses one record (exactly len bytes). 0 or AT_E_PARSE. */
int shm_parse_record(const unsigned char *p, size_t len, struct shm_record *rec) AT_MUST_CHECK;

/* Waits until the futex word differs from seen or timeout_ms passes. */
void shm_wait(struct shm_region *r, uint32_t seen, int timeout_ms);

/* Appends one record to a payload being built. Returns 0, AT_E_INVAL (a name of 0 or over 255 bytes),
 * AT_E_TOOBIG, AT_E_NOMEM. */
struct at_buf;
int shm_append_record(struct at_buf *b, enum shm_kind kind, const char *name, const char *chain, size_t chain_len,
		      const char *key, size_t key_len, const struct shm_meta *meta) AT_MUST_CHECK;

struct shm_record {
	enum shm_kind kind;
	char name[256];
	const char *chain; /* borrowed from the payload */
	size_t chain_len;
	const char *key;
	size_t key_len;
	int64_t not_after;
	unsigned nnames;
	const unsigned char *names; /* borrowed: nnames x (u8 len | name), each checked (1..255 bytes, no NUL) */
	size_t names_len;
	char blob[256];   /* "" when none */
	uint32_t blob_slot;
	uint64_t blob_version;
	const unsigned char *ocsp; /* borrowed, NULL when none */
	size_t ocsp_len;
	int64_t ocsp_until;
};

/* The names of a record one by one: *off starts at 0. 0 with out filled, AT_E_NOTFOUND after the last. */
int shm_record_name(const struct shm_record *rec, size_t *off, char out[256]) AT_MUST_CHECK;

/* Iterates records: *off starts at 0. Returns 0 with rec filled, AT_E_NOTFOUND after the last record, or
 * AT_E_PARSE on a malformed payload. */
int shm_next_record(const unsigned char *p, size_t len, size_t *off, struct shm_record *rec) AT_MUST_CHECK;

#endif
