/* The shared region (see shm.h). */
#include "shim/shm.h"
#include "util/buf.h"
#include "util/err.h"

#include <errno.h>
#include <linux/futex.h>
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
	/* A manager killed inside a write section (shm_dir.c) left the seqlock odd, and readers would wait for
	 * ever; that writer is gone, so no write is in progress. (A slot it half wrote fails to parse or points at
	 * nothing new, and the followers keep what they serve until this manager publishes.) */
	uint32_t seq = atomic_load(&r->seq);
	if (*took_over && (seq & 1))
		atomic_compare_exchange_strong(&r->seq, &seq, seq + 1);
	atomic_store(&r->helper_pid, (int32_t)getpid());
	atomic_fetch_add(&r->mgr_gen, 1);
	return 0;
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
		      const char *key, size_t key_len, const struct shm_meta *meta)
{
	size_t nl = strlen(name), nn = meta ? meta->nnames : 0;
	unsigned char hdr[2] = { (unsigned char)kind, (unsigned char)nl };
	int rc;
	if (nl == 0 || nl > 255 || nn > 255 || chain_len > UINT32_MAX || key_len > UINT32_MAX)
		return AT_E_INVAL;
	for (size_t i = 0; i < nn; i++)
		if (meta->names[i][0] == '\0' || strlen(meta->names[i]) > 255)
			return AT_E_INVAL;
	uint64_t na = (uint64_t)(meta ? meta->not_after : 0);
	unsigned char tail[9];
	for (int i = 0; i < 8; i++)
		tail[i] = (unsigned char)(na >> (8 * i));
	tail[8] = (unsigned char)nn;
	if ((rc = at_buf_append(b, hdr, 2)) != 0 || (rc = at_buf_append(b, name, nl)) != 0 ||
	    (rc = put_u32(b, chain_len)) != 0 || (rc = at_buf_append(b, chain, chain_len)) != 0 ||
	    (rc = put_u32(b, key_len)) != 0 || (rc = at_buf_append(b, key, key_len)) != 0 ||
	    (rc = at_buf_append(b, tail, sizeof(tail))) != 0)
		return rc;
	for (size_t i = 0; i < nn; i++) {
		unsigned char l = (unsigned char)strlen(meta->names[i]);
		if ((rc = at_buf_append(b, &l, 1)) != 0 || (rc = at_buf_append(b, meta->names[i], l)) != 0)
			return rc;
	}
	size_t bl = meta && meta->blob ? strlen(meta->blob) : 0;
	unsigned char l = (unsigned char)bl;
	if (bl > 255)
		return AT_E_INVAL;
	if ((rc = at_buf_append(b, &l, 1)) != 0)
		return rc;
	if (bl > 0) {
		unsigned char ref[12];
		uint64_t v = meta->blob_version;
		for (int i = 0; i < 4; i++)
			ref[i] = (unsigned char)(meta->blob_slot >> (8 * i));
		for (int i = 0; i < 8; i++)
			ref[4 + i] = (unsigned char)(v >> (8 * i));
		if ((rc = at_buf_append(b, meta->blob, bl)) != 0 || (rc = at_buf_append(b, ref, sizeof(ref))) != 0)
			return rc;
	}
	/* The OCSP staple (u32 length, DER, i64 the end of its validity): a refresh rewrites this record alone. */
	size_t ol = meta && meta->ocsp ? meta->ocsp_len : 0;
	if (ol > SHM_OCSP_MAX)
		return AT_E_INVAL;
	if ((rc = put_u32(b, ol)) != 0 || (ol > 0 && (rc = at_buf_append(b, meta->ocsp, ol)) != 0))
		return rc;
	uint64_t ou = (uint64_t)(ol > 0 ? meta->ocsp_until : 0);
	for (int i = 0; i < 8; i++)
		tail[i] = (unsigned char)(ou >> (8 * i));
	return at_buf_append(b, tail, 8);
}

int shm_record_name(const struct shm_record *rec, size_t *off, char out[256])
{
	if (*off >= rec->names_len)
		return AT_E_NOTFOUND;
	unsigned l = rec->names[*off];
	memcpy(out, rec->names + *off + 1, l); /* checked when the record was parsed */
	out[l] = '\0';
	*off += 1 + l;
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
	if ((kind != SHM_CERT && kind != SHM_CHALLENGE && kind != SHM_BLOB) || nl == 0 || len - *off < nl ||
	    memchr(p + *off, 0, nl))
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
	if (len - *off < 9)
		return AT_E_PARSE;
	uint64_t na = 0;
	for (int i = 0; i < 8; i++)
		na |= (uint64_t)p[*off + i] << (8 * i);
	rec->not_after = (int64_t)na;
	rec->nnames = p[*off + 8];
	*off += 9;
	rec->names = p + *off;
	for (unsigned i = 0; i < rec->nnames; i++) {
		if (len - *off < 1)
			return AT_E_PARSE;
		unsigned l = p[*off];
		if (l == 0 || len - *off - 1 < l || memchr(p + *off + 1, 0, l))
			return AT_E_PARSE;
		*off += 1 + l;
	}
	rec->names_len = (size_t)(p + *off - rec->names);
	if (len - *off < 1)
		return AT_E_PARSE;
	unsigned bl = p[(*off)++];
	rec->blob[0] = '\0';
	rec->blob_slot = 0;
	rec->blob_version = 0;
	if (bl > 0) {
		if (len - *off < (size_t)bl + 12 || memchr(p + *off, 0, bl))
			return AT_E_PARSE;
		memcpy(rec->blob, p + *off, bl);
		rec->blob[bl] = '\0';
		*off += bl;
		for (int i = 0; i < 4; i++)
			rec->blob_slot |= (uint32_t)p[*off + (size_t)i] << (8 * i);
		for (int i = 0; i < 8; i++)
			rec->blob_version |= (uint64_t)p[*off + 4 + (size_t)i] << (8 * i);
		*off += 12;
	}
	size_t ol;
	if (get_u32(p, len, off, &ol) != 0 || ol > SHM_OCSP_MAX || len - *off < ol + 8)
		return AT_E_PARSE;
	rec->ocsp = ol > 0 ? p + *off : NULL;
	rec->ocsp_len = ol;
	*off += ol;
	uint64_t ou = 0;
	for (int i = 0; i < 8; i++)
		ou |= (uint64_t)p[*off + (size_t)i] << (8 * i);
	rec->ocsp_until = (int64_t)ou;
	*off += 8;
	return 0;
}

int shm_parse_record(const unsigned char *p, size_t len, struct shm_record *rec)
{
	size_t off = 0;
	if (shm_next_record(p, len, &off, rec) != 0 || off != len)
		return AT_E_PARSE;
	return 0;
}
