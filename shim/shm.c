/* The shared region (see shm.h). */
#include "shim/shm.h"
#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum shm_manager_state shm_manager_state(const struct shm_region *r)
{
	/* glibc keeps a robust mutex's futex word in __data.__lock (part of the pthread_mutex_t ABI): the owner's
	 * TID, maybe with FUTEX_WAITERS; when the owner dies the kernel clears the TID and sets FUTEX_OWNER_DIED
	 * (robust futex list, futex(2)), until a new owner takes it over. Managers never unlock it. */
	unsigned w = (unsigned)__atomic_load_n(&r->mgr_alive.__data.__lock, __ATOMIC_ACQUIRE);
	if (w & FUTEX_OWNER_DIED)
		return SHM_MANAGER_GONE;
	if (w & FUTEX_TID_MASK)
		return SHM_MANAGER_ALIVE;
	return atomic_load(&r->mgr_gen) ? SHM_MANAGER_GONE : SHM_MANAGER_NONE;
}

int shm_manager_claim(struct shm_region *r, int *took_over)
{
	*took_over = 0;
	int rc = pthread_mutex_trylock(&r->mgr_alive);
	if (rc == EOWNERDEAD) {
		*took_over = 1;
		pthread_mutex_consistent(&r->mgr_alive);
	} else if (rc != 0) {
		return AT_E_LOCKED;
	}
	/* A manager killed inside shm_write left the seqlock odd, and readers would wait for ever; that writer is
	 * gone, so no write is in progress. (What it half wrote fails to parse, and the followers keep what they
	 * serve until this manager publishes.) */
	uint32_t seq = atomic_load(&r->seq);
	if (*took_over && (seq & 1))
		atomic_compare_exchange_strong(&r->seq, &seq, seq + 1);
	atomic_store(&r->helper_pid, (int32_t)getpid());
	atomic_fetch_add(&r->mgr_gen, 1);
	return 0;
}

static void futex_wake_all(_Atomic uint32_t *addr)
{
	/* Not FUTEX_PRIVATE: the waiters are other processes sharing the mapping. */
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

int shm_write(struct shm_region *r, const void *payload, size_t len)
{
	if (len > SHM_DATA_MAX)
		return AT_E_TOOBIG;
	atomic_fetch_add_explicit(&r->seq, 1, memory_order_acq_rel); /* odd: writing */
	atomic_thread_fence(memory_order_release);
	memcpy(r->data, payload, len);
	atomic_store_explicit(&r->used, (uint32_t)len, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->generation, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->seq, 1, memory_order_release); /* even: done */
	atomic_fetch_add_explicit(&r->futex, 1, memory_order_release);
	futex_wake_all(&r->futex);
	return 0;
}

/* How long a reader waits for a write in progress: the manager's memcpy of at most SHM_SIZE takes a few
 * milliseconds; a writer killed in the middle (or a region scribbled on) never finishes. */
#define READ_WAIT_MS 50

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int shm_read(const struct shm_region *r, unsigned char **out, size_t *len, uint64_t *generation)
{
	long deadline = 0;
	for (;;) {
		uint32_t s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
		if (s1 == 0)
			return AT_E_NOTFOUND;
		uint32_t used = atomic_load_explicit(&r->used, memory_order_relaxed);
		uint64_t gen = atomic_load_explicit(&r->generation, memory_order_relaxed);
		if (!(s1 & 1) && used <= SHM_DATA_MAX) {
			unsigned char *copy = malloc(used ? used : 1);
			if (copy == NULL)
				return AT_E_NOMEM;
			memcpy(copy, r->data, used);
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&r->seq, memory_order_relaxed) == s1) {
				*out = copy;
				*len = used;
				*generation = gen;
				return 0;
			}
			shm_copy_free(copy, used);
		}
		/* A write in progress (odd), or one that changed the content under the copy: yield and look again,
		 * for a bounded time, so that no reader (holding a lock the host's fork needs) spins for ever. */
		if (deadline == 0)
			deadline = now_ms() + READ_WAIT_MS;
		else if (now_ms() > deadline)
			return AT_E_TIMEOUT;
		sched_yield();
	}
}

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

void shm_wait(struct shm_region *r, uint32_t seen, int timeout_ms)
{
	struct timespec ts = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L };
	syscall(SYS_futex, (uint32_t *)&r->futex, FUTEX_WAIT, seen, &ts, NULL, 0);
}

static int put_u32(struct at_buf *b, size_t v)
{
	unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 24) };
	return at_buf_append(b, x, 4);
}

int shm_append_record(struct at_buf *b, enum shm_kind kind, const char *name, const char *chain, size_t chain_len,
		      const char *key, size_t key_len)
{
	size_t nl = strlen(name);
	unsigned char hdr[2] = { (unsigned char)kind, (unsigned char)nl };
	int rc;
	if (nl == 0 || nl > 255)
		return AT_E_INVAL;
	if ((rc = at_buf_append(b, hdr, 2)) != 0 || (rc = at_buf_append(b, name, nl)) != 0 ||
	    (rc = put_u32(b, chain_len)) != 0 || (rc = at_buf_append(b, chain, chain_len)) != 0 ||
	    (rc = put_u32(b, key_len)) != 0 || (rc = at_buf_append(b, key, key_len)) != 0)
		return rc;
	return 0;
}

static int get_u32(const unsigned char *p, size_t len, size_t *off, size_t *v)
{
	if (len - *off < 4)
		return AT_E_PARSE;
	const unsigned char *x = p + *off;
	*v = (size_t)x[0] | (size_t)x[1] << 8 | (size_t)x[2] << 16 | (size_t)x[3] << 24;
	*off += 4;
	return 0;
}

int shm_next_record(const unsigned char *p, size_t len, size_t *off, struct shm_record *rec)
{
	if (*off == len)
		return AT_E_NOTFOUND;
	if (*off > len || len - *off < 2)
		return AT_E_PARSE;
	unsigned kind = p[*off], nl = p[*off + 1];
	*off += 2;
	/* A NUL inside the name would make it another (shorter, or empty) name than the one written. */
	if ((kind != SHM_CERT && kind != SHM_CHALLENGE) || nl == 0 || len - *off < nl || memchr(p + *off, 0, nl))
		return AT_E_PARSE;
	rec->kind = (enum shm_kind)kind;
	memcpy(rec->name, p + *off, nl);
	rec->name[nl] = '\0';
	*off += nl;
	if (get_u32(p, len, off, &rec->chain_len) != 0 || len - *off < rec->chain_len)
		return AT_E_PARSE;
	rec->chain = (const char *)p + *off;
	*off += rec->chain_len;
	if (get_u32(p, len, off, &rec->key_len) != 0 || len - *off < rec->key_len)
		return AT_E_PARSE;
	rec->key = (const char *)p + *off;
	*off += rec->key_len;
	return 0;
}
