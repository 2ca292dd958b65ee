/*
 * The shared region's directory of versioned records (see shm.h): the writer's shm_put/shm_drop and the
 * followers' shm_read_changes.
 *
 * Owns: the writer's per-process index of the slots (kind and name to slot, free slots) and its batch flag
 * (shm_hold_wakes), guarded by the caller (publish.c's state_mu: one writer thread per process, and one
 * publishing process per tree); in the region, the directory, its ring of the last writes' slots and the heap. Followers take
 * no lock: they read under the region's seqlock and give up after a bounded wait. Must never: block in a write
 * section (the seqlock is held odd for a few stores only, or for the directory pass of a compaction), or trust
 * what the region says (any process of the tree can write into it: every offset is checked against the heap).
 */
#include "shim/shm.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/fnv.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <unistd.h>

#define RELAXED memory_order_relaxed
#define READ_WAIT_MS 50 /* a reader waits this long for a write section, then gives up (a writer killed in it) */
#define HEAP_END(r) (2 * (uint64_t)shm_half(r))
#define SLOT_TRIES 1000 /* shm_read_slot: reads of the sequence before a handshake starts to yield */
#define SLOT_YIELD_US 1000 /* then it yields and reads again for up to this long, and gives up */

static struct shm_dir *dir_of(const struct shm_region *r)
{
	return (struct shm_dir *)(void *)r->data;
}

static unsigned char *heap_of(const struct shm_region *r)
{
	return (unsigned char *)r->data + SHM_HEAP_OFF;
}

/* ---- the writer ---- */

struct wslot {
	char *name; /* owned; NULL: free */
	uint8_t kind;
};
static const struct shm_region *w_region; /* the region the state below describes */
static pid_t w_pid;                        /* in this process (a fork's child adopts afresh) */
static uint64_t w_gen;                     /* the region's generation after this writer's last write: another
					    * writer's since (a lead lost and won back) means the state is stale */
static struct wslot *w_slots;             /* by slot, w_cap of them */
static uint32_t w_cap;
static uint32_t *w_index; /* open addressing over slots by (kind, name): slot + 1, 0 empty, UINT32_MAX deleted */
static uint32_t w_index_mask, w_index_used;
static uint32_t *w_free; /* free slots below nslots (a stack) */
static uint32_t w_nfree, w_free_cap;

static uint32_t key_hash(unsigned kind, const char *name)
{
	return at_fnv1a32(AT_FNV32_BASIS ^ kind, name);
}

static int index_grow(void)
{
	uint32_t slots = w_index ? (w_index_mask + 1) * 2 : 1024;
	uint32_t *ix = calloc(slots, sizeof(*ix));
	if (ix == NULL)
		return AT_E_NOMEM;
	for (uint32_t s = 0; s < w_cap; s++) {
		if (w_slots[s].name == NULL)
			continue;
		uint32_t k = key_hash(w_slots[s].kind, w_slots[s].name) & (slots - 1);
		while (ix[k] != 0)
			k = (k + 1) & (slots - 1);
		ix[k] = s + 1;
	}
	free(w_index);
	w_index = ix;
	w_index_mask = slots - 1;
	w_index_used = 0;
	for (uint32_t s = 0; s < w_cap; s++)
		w_index_used += w_slots[s].name != NULL;
	return 0;
}

/* The index position of (kind, name), or of the place to insert it (*found 0). */
static uint32_t index_find(unsigned kind, const char *name, int *found)
{
	uint32_t k = key_hash(kind, name) & w_index_mask, ins = UINT32_MAX;
	for (; w_index[k] != 0; k = (k + 1) & w_index_mask) {
		if (w_index[k] == UINT32_MAX) {
			if (ins == UINT32_MAX)
				ins = k;
			continue;
		}
		const struct wslot *w = &w_slots[w_index[k] - 1];
		if (w->kind == kind && strcmp(w->name, name) == 0) {
			*found = 1;
			return k;
		}
	}
	*found = 0;
	return ins != UINT32_MAX ? ins : k;
}

static int slots_reserve(uint32_t n)
{
	if (n <= w_cap)
		return 0;
	uint32_t nc = w_cap ? w_cap : 256;
	while (nc < n)
		nc *= 2;
	struct wslot *nv = realloc(w_slots, nc * sizeof(*nv));
	if (nv == NULL)
		return AT_E_NOMEM;
	memset(nv + w_cap, 0, (nc - w_cap) * sizeof(*nv));
	w_slots = nv;
	w_cap = nc;
	return 0;
}

static int free_push(uint32_t s)
{
	if (w_nfree == w_free_cap) {
		uint32_t nc = w_free_cap ? w_free_cap * 2 : 64;
		uint32_t *nv = realloc(w_free, nc * sizeof(*nv));
		if (nv == NULL)
			return AT_E_NOMEM;
		w_free = nv;
		w_free_cap = nc;
	}
	w_free[w_nfree++] = s;
	return 0;
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
	/* Not FUTEX_PRIVATE: the waiters are other processes sharing the mapping. */
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void write_begin(struct shm_region *r)
{
	atomic_fetch_add_explicit(&r->seq, 1, memory_order_acq_rel); /* odd: writing */
	atomic_thread_fence(memory_order_release);
}

static int w_hold, w_pending; /* shm_hold_wakes */

static void write_end(struct shm_region *r, int wake)
{
	atomic_fetch_add_explicit(&r->seq, 1, memory_order_release); /* even: done */
	if (wake && w_hold) {
		w_pending = 1;
		wake = 0;
	}
	if (wake) {
		atomic_fetch_add_explicit(&r->futex, 1, memory_order_release);
		futex_wake_all(&r->futex);
	}
}

static void slot_set(struct shm_region *r, uint32_t s, uint32_t off, uint32_t len)
{
	struct shm_slot *sl = &dir_of(r)->slot[s];
	uint64_t v = atomic_fetch_add_explicit(&r->generation, 1, RELAXED) + 1;
	w_gen = v;
	atomic_store_explicit(&sl->off, off, RELAXED);
	atomic_store_explicit(&sl->len, len, RELAXED);
	atomic_store_explicit(&sl->version, v, RELAXED);
	struct shm_dir *d = dir_of(r);
	uint64_t w = atomic_load_explicit(&d->nwrites, RELAXED);
	atomic_store_explicit(&d->ring[w % SHM_RING], s, RELAXED);
	atomic_store_explicit(&d->nwrites, w + 1, RELAXED);
}

static void writer_reset(void)
{
	for (uint32_t s = 0; s < w_cap; s++)
		free(w_slots[s].name);
	free(w_slots);
	free(w_index);
	free(w_free);
	w_slots = NULL;
	w_index = w_free = NULL;
	w_cap = w_index_mask = w_index_used = w_nfree = w_free_cap = 0;
	w_region = NULL;
	w_pid = 0;
}

/* Whether this process's writer state does not describe r as it is: another region, another process (a fork's
 * child), or another writer wrote since this one did. */
static int writer_stale(const struct shm_region *r)
{
	return w_region != r || w_pid != getpid() || atomic_load_explicit(&r->generation, RELAXED) != w_gen;
}

/* The slots of a region this process has not written to yet: its records are adopted (certificates) or
 * withdrawn (challenges, and anything that does not parse). */
static int writer_adopt(struct shm_region *r)
{
	struct shm_dir *d = dir_of(r);
	writer_reset();
	uint32_t n = atomic_load_explicit(&d->nslots, RELAXED);
	if (n > SHM_SLOTS)
		n = 0; /* scribbled on: start over (the followers keep what they parsed until slots change) */
	int rc = slots_reserve(n ? n : 1);
	if (rc == 0)
		rc = index_grow();
	int dropped = 0;
	/* A writer killed inside a write section left the seqlock odd (shm_manager_claim mends that for a manager
	 * process; an in-process leader that takes over comes here): this process is now the tree's only writer,
	 * so no write is in progress, and without this every follower's read would time out for ever. */
	uint32_t seq = atomic_load(&r->seq);
	if (seq & 1)
		atomic_compare_exchange_strong(&r->seq, &seq, seq + 1);
	write_begin(r);
	if (n == 0) {
		atomic_store_explicit(&d->nslots, 0, RELAXED);
		/* Slots vanished without writes: followers must walk them all. */
		atomic_fetch_add_explicit(&d->nwrites, SHM_RING + 1, RELAXED);
	}
	for (uint32_t s = 0; rc == 0 && s < n; s++) {
		uint32_t off = atomic_load_explicit(&d->slot[s].off, RELAXED);
		uint32_t len = atomic_load_explicit(&d->slot[s].len, RELAXED);
		struct shm_record rec;
		if (len == 0) {
			rc = free_push(s);
			continue;
		}
		if ((uint64_t)off + len > HEAP_END(r) || shm_parse_record(heap_of(r) + off, len, &rec) != 0 ||
		    rec.kind == SHM_CHALLENGE) {
			slot_set(r, s, 0, 0);
			dropped = 1;
			rc = free_push(s);
			continue;
		}
		int found;
		if (w_index_used * 2 >= w_index_mask && (rc = index_grow()) != 0)
			break;
		uint32_t k = index_find(rec.kind, rec.name, &found);
		if (found) { /* the same name twice: the later one goes */
			slot_set(r, s, 0, 0);
			dropped = 1;
			rc = free_push(s);
			continue;
		}
		if ((w_slots[s].name = strdup(rec.name)) == NULL) {
			rc = AT_E_NOMEM;
			break;
		}
		w_slots[s].kind = (uint8_t)rec.kind;
		w_index[k] = s + 1;
		w_index_used++;
	}
	write_end(r, dropped);
	if (rc != 0) {
		writer_reset();
		return rc;
	}
	w_region = r;
	w_pid = getpid();
	w_gen = atomic_load_explicit(&r->generation, RELAXED);
	return 0;
}

/* Copies the live records into the other half of the heap, then points the slots there (no version changes:
 * the records are the same). 0, or AT_E_TOOBIG when the live records and need more bytes do not fit. */
static int compact(struct shm_region *r, uint32_t skip, uint64_t need)
{
	struct shm_dir *d = dir_of(r);
	uint32_t n = atomic_load_explicit(&d->nslots, RELAXED), other = 1 - atomic_load_explicit(&d->half, RELAXED);
	uint64_t total = need;
	for (uint32_t s = 0; s < n; s++)
		if (s != skip)
			total += atomic_load_explicit(&d->slot[s].len, RELAXED);
	if (total > shm_half(r))
		return AT_E_TOOBIG;
	/* The other half is referenced by no slot: readers that still copy from it started before the last
	 * flip and see the sequence move. */
	unsigned char *h = heap_of(r);
	uint64_t fill = 0;
	for (uint32_t s = 0; s < n; s++) {
		uint32_t len = atomic_load_explicit(&d->slot[s].len, RELAXED);
		if (s == skip || len == 0)
			continue;
		memmove(h + (uint64_t)other * shm_half(r) + fill, h + atomic_load_explicit(&d->slot[s].off, RELAXED), len);
		fill += len;
	}
	write_begin(r);
	fill = 0;
	for (uint32_t s = 0; s < n; s++) {
		uint32_t len = atomic_load_explicit(&d->slot[s].len, RELAXED);
		if (s == skip || len == 0)
			continue;
		atomic_store_explicit(&d->slot[s].off, (uint32_t)((uint64_t)other * shm_half(r) + fill), RELAXED);
		fill += len;
	}
	atomic_store_explicit(&d->half, other, RELAXED);
	atomic_store_explicit(&d->fill, (uint32_t)fill, RELAXED);
	write_end(r, 0);
	return 0;
}

int shm_put(struct shm_region *r, enum shm_kind kind, const char *name, const char *chain, size_t chain_len,
	    const char *key, size_t key_len, const struct shm_meta *meta)
{
	struct shm_dir *d = dir_of(r);
	struct at_buf b;
	int rc, found;
	if (writer_stale(r) && (rc = writer_adopt(r)) != 0)
		return rc;
	at_buf_init(&b, shm_half(r));
	if ((rc = shm_append_record(&b, kind, name, chain, chain_len, key, key_len, meta)) != 0) {
		at_buf_free_secret(&b);
		return rc;
	}
	if (w_index_used * 2 >= w_index_mask && (rc = index_grow()) != 0) {
		at_buf_free_secret(&b);
		return rc;
	}
	uint32_t k = index_find(kind, name, &found), s;
	uint32_t len = (uint32_t)b.len, n = atomic_load_explicit(&d->nslots, RELAXED);
	if (found) {
		s = w_index[k] - 1;
		uint32_t old_len = atomic_load_explicit(&d->slot[s].len, RELAXED);
		uint32_t old_off = atomic_load_explicit(&d->slot[s].off, RELAXED);
		if (old_len == len && (uint64_t)old_off + len <= HEAP_END(r) && memcmp(heap_of(r) + old_off, b.data, len) == 0) {
			at_buf_free_secret(&b);
			return AT_E_STATE; /* nothing new: every follower would parse it again for nothing */
		}
	} else if (w_nfree > 0) {
		s = w_free[w_nfree - 1];
	} else if (n < SHM_SLOTS) {
		s = n;
	} else {
		at_buf_free_secret(&b);
		return AT_E_TOOBIG;
	}
	if ((rc = slots_reserve(s + 1)) != 0) {
		at_buf_free_secret(&b);
		return rc;
	}
	uint32_t fill = atomic_load_explicit(&d->fill, RELAXED);
	if ((uint64_t)fill + len > shm_half(r)) {
		if ((rc = compact(r, found ? s : UINT32_MAX, len)) != 0) {
			at_buf_free_secret(&b);
			return rc;
		}
		fill = atomic_load_explicit(&d->fill, RELAXED);
	}
	char *nm = NULL;
	if (!found && (nm = strdup(name)) == NULL) {
		at_buf_free_secret(&b);
		return AT_E_NOMEM;
	}
	/* The bytes go where no slot points yet; only the slot's few words are written under the seqlock. */
	uint32_t off = atomic_load_explicit(&d->half, RELAXED) * shm_half(r) + fill;
	memcpy(heap_of(r) + off, b.data, len);
	at_buf_free_secret(&b);
	write_begin(r);
	slot_set(r, s, off, len);
	atomic_store_explicit(&d->fill, fill + len, RELAXED);
	if (s >= n)
		atomic_store_explicit(&d->nslots, s + 1, RELAXED);
	write_end(r, 1);
	if (!found) {
		if (s < n)
			w_nfree--; /* it came from the free stack */
		w_slots[s].name = nm;
		w_slots[s].kind = (uint8_t)kind;
		w_index[k] = s + 1;
		w_index_used++;
	}
	return 0;
}

int shm_drop(struct shm_region *r, enum shm_kind kind, const char *name)
{
	int rc, found;
	if (writer_stale(r) && (rc = writer_adopt(r)) != 0)
		return rc;
	uint32_t k = index_find(kind, name, &found);
	if (!found)
		return AT_E_NOTFOUND;
	uint32_t s = w_index[k] - 1;
	if ((rc = free_push(s)) != 0)
		return rc;
	write_begin(r);
	slot_set(r, s, 0, 0);
	write_end(r, 1);
	free(w_slots[s].name);
	w_slots[s].name = NULL;
	w_index[k] = UINT32_MAX;
	return 0;
}

void shm_hold_wakes(struct shm_region *r, int on)
{
	w_hold = on;
	if (!on && w_pending) {
		w_pending = 0;
		atomic_fetch_add_explicit(&r->futex, 1, memory_order_release);
		futex_wake_all(&r->futex);
	}
}

int shm_slot_of(struct shm_region *r, enum shm_kind kind, const char *name, uint32_t *slot, uint64_t *version)
{
	int found;
	if (w_region != r || w_index == NULL)
		return AT_E_NOTFOUND;
	uint32_t k = index_find(kind, name, &found);
	if (!found)
		return AT_E_NOTFOUND;
	*slot = w_index[k] - 1;
	*version = atomic_load_explicit(&dir_of(r)->slot[*slot].version, RELAXED);
	return 0;
}

struct shm_region *shm_create_private(void)
{
	void *p = mmap(NULL, SHM_SIZE_LARGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		       0);
	if (p == MAP_FAILED)
		return NULL;
	madvise(p, SHM_SIZE_LARGE, MADV_DONTDUMP);
	struct shm_region *r = p;
	r->magic = SHM_MAGIC;
	r->size = SHM_SIZE_LARGE;
	return r;
}

/* ---- the followers ---- */

void shm_copy_free(unsigned char *p, size_t len)
{
	if (p == NULL)
		return;
	/* The copy holds private keys. volatile stores so the compiler keeps them (no libcrypto here). */
	volatile unsigned char *v = p;
	for (size_t i = 0; i < len; i++)
		v[i] = 0;
	free(p);
}

void shm_changes_free(struct shm_changes *c)
{
	shm_copy_free(c->copy, c->copy_len);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

int shm_read_slot(const struct shm_region *r, uint32_t slot, uint64_t version, unsigned char **out, size_t *len)
{
	const struct shm_dir *d = dir_of(r);
	if (slot >= SHM_SLOTS)
		return AT_E_PARSE;
	/* A handshake's thread: no sleep and no long wait. A write section is a few stores; it normally ends within
	 * the quick tries. A writer preempted inside one (a loaded machine: both cores busy) needs the CPU back to
	 * end it, so the reader then yields between reads, for at most SLOT_YIELD_US (never a sleep: the thread
	 * stays runnable). A section still open after that (a writer killed in it) makes this handshake keep the
	 * host's certificate. */
	long give_up_us = 0;
	int last = 0;
	for (int tries = 0;; tries++) {
		if (tries >= SLOT_TRIES) {
			if (last)
				break;
			long now = at_clock_us();
			if (give_up_us == 0)
				give_up_us = now + SLOT_YIELD_US;
			else if (now > give_up_us)
				last = 1; /* one more read after the window: this thread may have been preempted past it */
			if (!last)
				sched_yield();
		}
		uint32_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		if (s1 & 1)
			continue;
		uint64_t v = atomic_load_explicit(&d->slot[slot].version, RELAXED);
		uint32_t off = atomic_load_explicit(&d->slot[slot].off, RELAXED);
		uint32_t n = atomic_load_explicit(&d->slot[slot].len, RELAXED);
		unsigned char *copy = NULL;
		int rc = 0;
		if (v != version || n == 0)
			rc = AT_E_STATE;
		else if ((uint64_t)off + n > HEAP_END(r))
			rc = AT_E_PARSE;
		else if ((copy = malloc(n)) == NULL)
			return AT_E_NOMEM;
		else
			memcpy(copy, heap_of(r) + off, n);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&r->seq, RELAXED) == s1) {
			if (rc == 0) {
				*out = copy;
				*len = n;
			}
			return rc;
		}
		shm_copy_free(copy, n);
	}
	return AT_E_TIMEOUT;
}

/* One pass: counts (v NULL) or fills the changes. AT_E_PARSE for a slot outside the heap, AT_E_STATE when the
 * directory moved under a filling pass (more than counted). */
/* One pass: counts (c NULL) or fills the changes. Every slot below end, or (ring) only the slots of writes
 * [since, nwrites). AT_E_PARSE for a slot outside the heap, AT_E_STATE when the directory moved under a filling
 * pass (more than counted). */
static int walk(const struct shm_region *r, const uint64_t *known, size_t nknown, uint32_t n, int ring,
		uint64_t since, uint64_t nwrites, struct shm_changes *c, size_t *count, size_t *bytes)
{
	const struct shm_dir *d = dir_of(r);
	const unsigned char *h = heap_of(r);
	size_t nc = 0, nb = 0, end = ring ? (size_t)(nwrites - since) : n > nknown ? n : nknown;
	for (size_t i = 0; i < end; i++) {
		size_t s = i;
		if (ring) {
			s = atomic_load_explicit(&d->ring[(since + i) % SHM_RING], RELAXED);
			if (s >= SHM_SLOTS)
				return AT_E_PARSE;
			int dup = 0; /* written twice since: once is enough (the slot as it is now) */
			for (size_t j = 0; j < i && !dup; j++)
				dup = atomic_load_explicit(&d->ring[(since + j) % SHM_RING], RELAXED) == s;
			if (dup)
				continue;
		}
		uint64_t v = 0;
		uint32_t off = 0, len = 0;
		if (s < n) {
			v = atomic_load_explicit(&d->slot[s].version, RELAXED);
			len = atomic_load_explicit(&d->slot[s].len, RELAXED);
			off = atomic_load_explicit(&d->slot[s].off, RELAXED);
		}
		uint64_t k = s < nknown ? known[s] : 0;
		if (len == 0 && k == 0)
			continue; /* free, and known free */
		if (v == k)
			continue;
		if (len != 0 && (uint64_t)off + len > HEAP_END(r))
			return AT_E_PARSE;
		if (c != NULL) {
			if (nc >= *count || nb + len > *bytes)
				return AT_E_STATE;
			struct shm_change *x = &c->v[nc];
			x->slot = (uint32_t)s;
			x->version = len ? v : 0;
			x->len = len;
			x->rec = len ? c->copy + nb : NULL;
			memcpy(c->copy + nb, h + off, len);
		}
		nc++;
		nb += len;
	}
	if (c == NULL) {
		*count = nc;
		*bytes = nb;
	} else {
		c->n = nc;
	}
	return 0;
}

int shm_read_changes(const struct shm_region *r, const uint64_t *known, size_t nknown, uint64_t since,
		     struct shm_changes *out)
{
	long deadline = 0;
	memset(out, 0, sizeof(*out));
	for (;;) {
		uint32_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		if (s1 == 0)
			return AT_E_NOTFOUND;
		if (!(s1 & 1)) {
			const struct shm_dir *d = dir_of(r);
			uint32_t n = atomic_load_explicit(&d->nslots, RELAXED);
			uint64_t gen = atomic_load_explicit(&r->generation, RELAXED);
			uint64_t nw = atomic_load_explicit(&d->nwrites, RELAXED);
			int ring = since != 0 && nw >= since && nw - since <= SHM_RING;
			size_t count = 0, bytes = 0;
			int rc = n > SHM_SLOTS ? AT_E_PARSE
					       : walk(r, known, nknown, n, ring, since, nw, NULL, &count, &bytes);
			if (rc == 0) {
				out->v = malloc((count ? count : 1) * sizeof(*out->v));
				out->copy = malloc(bytes ? bytes : 1);
				if (out->v == NULL || out->copy == NULL) {
					shm_changes_free(out);
					return AT_E_NOMEM;
				}
				out->copy_len = bytes;
				rc = walk(r, known, nknown, n, ring, since, nw, out, &count, &bytes);
			}
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&r->seq, RELAXED) == s1) {
				if (rc == 0) {
					out->nslots = n;
					out->generation = gen;
					out->nwrites = nw;
					return 0;
				}
				if (rc == AT_E_PARSE) {
					shm_changes_free(out);
					return rc;
				}
			}
			shm_changes_free(out);
		}
		/* A write in progress (odd), or one that changed the directory under the walk: yield and look again,
		 * for a bounded time, so that no reader (holding a lock the host's fork needs) spins for ever. */
		if (deadline == 0)
			deadline = at_clock_ms() + READ_WAIT_MS;
		else if (at_clock_ms() > deadline)
			return AT_E_TIMEOUT;
		sched_yield();
	}
}
