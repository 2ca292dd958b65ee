/*
 * From the shared region to this process's cache, paying for what changed only (issue 9 item 4): read the
 * slots whose version differs from the one this process parsed (shm_read_changes copies only those records),
 * parse each of them (PEM to X509 and EVP_PKEY, the refusal probe), keep the parsed entries of all the others,
 * and publish a new immutable snapshot whose entries borrow the parsed objects. Runs on the manager thread, and
 * on a server thread for a ClientHello that offers only acme-tls/1 (sync_now).
 *
 * Owns: the per-process table of parsed entries by slot (held, held_version) and the table of intermediates
 * shared by many certificates (interned), both guarded by mgr_publish_mu. A replaced entry is retired, not freed: a
 * snapshot still current for a callback may borrow it; it is freed on the monotonic clock after twice the
 * cache's grace, when every snapshot that could borrow it is gone (cache.h). Never: parse a record whose
 * version is the one already held, or hold mgr_publish_mu across I/O.
 */
#include "shim/manager/manager.h"
#include "shim/manager/control.h"
#include "shim/ondemand_idle.h"
#include "util/fnv.h"
#include "acme/csr.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/x509.h"

#include <openssl/err.h>

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pthread_mutex_t mgr_publish_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t local_generation; /* guarded by mgr_publish_mu */
/* A region that could not be read or parsed at generation bad_generation and write sequence bad_seq: every
 * process keeps serving its last good snapshot, says so once, and reads again only when the region changes. */
static uint64_t bad_generation;   /* guarded by mgr_publish_mu */
static uint32_t bad_seq;
static int bad;

/* A record's certificate, key and refusals, parsed. */
struct objs {
	X509 *leaf;
	STACK_OF(X509) *chain; /* the intermediates (shared X509s, see intern), NULL when there are none */
	EVP_PKEY *key;
	unsigned refused;
	const char *why;
};

/* One record as this process holds it: immutable once made (but for objs, set once), borrowed by snapshots.
 * A certificate record with the writer's names is lazy: its PEM is parsed (objs) only when a handshake first
 * asks for one of its names, from the region's slot while it still holds this version; the others (challenge
 * certificates) are parsed when read. */
struct parsed {
	enum shm_kind kind;
	struct objs eager;            /* parsed when read (not lazy) */
	int lazy;
	_Atomic(struct objs *) objs;  /* lazy: NULL until first use (a CAS: one of two racing parses wins) */
	uint32_t slot;
	uint64_t version;
	time_t not_after;
	int has_ip;
	size_t nnames;
	char **names; /* the certificate's names (a challenge: its record's name), in this allocation */
	unsigned char *ocsp; /* the record's OCSP staple (a copy, owned), NULL when none */
	size_t ocsp_len;
	time_t ocsp_until;
	struct parsed *retired_next;
	long retired_at_ms;
};

static uint64_t *held_version; /* by slot: the version held (0: none) */
static struct parsed **held;   /* by slot */
/* By slot, what a snapshot's lazy entry points at: a cell that lives as long as the process, whose parsed entry
 * a change swaps in place when the record's names stay the same (a renewal), so that no new snapshot (O(names))
 * is built for it; the entry's expiry is checked through the cell (resolve). Allocated once per slot used. */
struct cell {
	_Atomic(struct parsed *) p;
	/* On-demand's idle rule (shim/ondemand_idle.h): before this time this process does not tell again that a
	 * handshake asked for the record's names. Per process, one relaxed load per handshake; a CAS once a
	 * period. Survives a renewal (the cell does). */
	_Atomic int64_t ask_next;
};
static _Atomic long touch_s; /* ondemand_touch_s, 0: on-demand off (no touches); set by mgr_sync */
static struct cell **cells;
static size_t nheld;          /* slots known */
static uint64_t seen_writes;  /* the directory's write count at the last read (shm_read_changes' since) */
static size_t nentries, nchal; /* cache entries the held records make */
static int nip;                /* held certificates covering an IP address */
static struct parsed *parsed_retired;

static void objs_clear(struct objs *o)
{
	X509_free(o->leaf);
	EVP_PKEY_free(o->key);
	sk_X509_pop_free(o->chain, X509_free);
	memset(o, 0, sizeof(*o));
}

static struct objs failed_objs; /* a record that does not parse: asked once, then never again */

static void parsed_free(struct parsed *p)
{
	if (p == NULL)
		return;
	objs_clear(&p->eager);
	struct objs *o = atomic_load(&p->objs);
	if (o != NULL && o != &failed_objs) { /* the mark is static: never freed */
		objs_clear(o);
		free(o);
	}
	free(p->ocsp);
	free(p); /* the names are in the same allocation */
}

/* ---- intermediates, parsed once per process however many certificates name them ---- */

#define INTERN_MAX 64 /* distinct intermediates kept (a tree has a handful); beyond it each is parsed */
static struct interned {
	uint64_t hash;
	size_t len;
	char *pem;
	X509 *x;
} interned[INTERN_MAX];
static size_t ninterned;
/* Guards interned and blobs: lazy parses run on the server's handshake threads. Held for the table only, never
 * across a parse; a handshake's thread only tries it (busy: it parses without the table), so it never waits,
 * and a child forked while a thread held it parses without the table instead of hanging. */
static pthread_mutex_t intern_mu = PTHREAD_MUTEX_INITIALIZER;

/* Around a host's fork (thread_life.c, after mgr_publish_mu, as the manager's own path takes it): a child forked
 * while a handshake thread held intern_mu would otherwise block its manager thread's next locking intern(). */
void mgr_sync_fork_prepare(void)
{
	pthread_mutex_lock(&intern_mu);
}

void mgr_sync_fork_after(void)
{
	pthread_mutex_unlock(&intern_mu);
}

static int intern_lock(int handshake)
{
	if (handshake)
		return pthread_mutex_trylock(&intern_mu) == 0;
	pthread_mutex_lock(&intern_mu);
	return 1;
}


/* One certificate block's X509 (a new reference): the interned one when its PEM was seen before. */
static int intern(X509 **out, const char *pem, size_t len, int handshake)
{
	uint64_t h = at_fnv1a64(pem, len);
	int locked = intern_lock(handshake);
	for (size_t i = 0; locked && i < ninterned; i++) {
		if (interned[i].hash == h && interned[i].len == len && memcmp(interned[i].pem, pem, len) == 0) {
			X509_up_ref(interned[i].x);
			*out = interned[i].x;
			pthread_mutex_unlock(&intern_mu);
			return 0;
		}
	}
	if (locked)
		pthread_mutex_unlock(&intern_mu);
	STACK_OF(X509) *one = NULL;
	int rc = at_chain_parse(&one, pem, len);
	if (rc != 0)
		return rc;
	if (sk_X509_num(one) != 1) {
		sk_X509_pop_free(one, X509_free);
		return AT_E_PARSE;
	}
	X509 *x = sk_X509_shift(one);
	sk_X509_free(one);
	if (!intern_lock(handshake)) {
		*out = x;
		return 0;
	}
	if (ninterned < INTERN_MAX) { /* (two racing parses of one new intermediate may both enter: harmless) */
		char *copy = malloc(len);
		if (copy != NULL) {
			memcpy(copy, pem, len);
			X509_up_ref(x);
			interned[ninterned++] = (struct interned){ .hash = h, .len = len, .pem = copy, .x = x };
		}
	}
	pthread_mutex_unlock(&intern_mu);
	*out = x;
	return 0;
}

/* The leaf and the intermediates of a chain PEM: the leaf parsed, each intermediate interned. */
static int chain_parse(X509 **leaf, STACK_OF(X509) **rest, const char *pem, size_t len, int handshake)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	const size_t bl = sizeof(begin) - 1;
	const char *end = pem + len;
	*leaf = NULL;
	*rest = NULL;
	const char *b = memmem(pem, len, begin, bl);
	if (b == NULL)
		return AT_E_PARSE;
	const char *next = memmem(b + bl, (size_t)(end - b - (ptrdiff_t)bl), begin, bl);
	STACK_OF(X509) *one = NULL;
	int rc = at_chain_parse(&one, pem, (size_t)((next ? next : end) - pem));
	if (rc != 0)
		return rc;
	if (sk_X509_num(one) != 1) {
		sk_X509_pop_free(one, X509_free);
		return AT_E_PARSE;
	}
	*leaf = sk_X509_shift(one);
	sk_X509_free(one);
	if (next == NULL)
		return 0;
	if ((*rest = sk_X509_new_null()) == NULL) {
		rc = AT_E_NOMEM;
		goto fail;
	}
	while (next != NULL) {
		b = next;
		next = memmem(b + bl, (size_t)(end - b - (ptrdiff_t)bl), begin, bl);
		X509 *x = NULL;
		if ((rc = intern(&x, b, (size_t)((next ? next : end) - b), handshake)) != 0)
			goto fail;
		if (!sk_X509_push(*rest, x)) {
			X509_free(x);
			rc = AT_E_NOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	X509_free(*leaf);
	sk_X509_pop_free(*rest, X509_free);
	*leaf = NULL;
	*rest = NULL;
	return rc;
}

/* A new entry with its names in the same allocation (a follower holds one per record: 100,000 of them). */
static struct parsed *parsed_new(char **names, size_t n)
{
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += strlen(names[i]) + 1;
	struct parsed *p = calloc(1, sizeof(*p) + n * sizeof(char *) + bytes);
	if (p == NULL)
		return NULL;
	p->names = (char **)(void *)(p + 1);
	char *at = (char *)(p->names + n);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;
		memcpy(at, names[i], l);
		p->names[i] = at;
		at += l;
		p->has_ip |= at_name_is_ip(names[i]);
	}
	p->nnames = n;
	return p;
}

static struct shm_region *_Atomic lazy_region; /* the region the lazy entries' slots are in */

/* Blobs (SHM_BLOB records: the intermediates many certificates share), parsed once per process by name. */
#define BLOBS_MAX 64
static struct {
	char name[80];
	STACK_OF(X509) *chain;
} blobs[BLOBS_MAX];
static size_t nblobs; /* guarded by intern_mu */

/* The intermediates of r's blob (new references in a new stack). */
static int blob_chain(const struct shm_record *r, STACK_OF(X509) **out, int handshake)
{
	int locked = intern_lock(handshake);
	for (size_t i = 0; locked && i < nblobs; i++) {
		if (strcmp(blobs[i].name, r->blob) == 0) {
			*out = X509_chain_up_ref(blobs[i].chain);
			pthread_mutex_unlock(&intern_mu);
			return *out ? 0 : AT_E_NOMEM;
		}
	}
	if (locked)
		pthread_mutex_unlock(&intern_mu);
	struct shm_region *region = atomic_load_explicit(&lazy_region, memory_order_acquire);
	unsigned char *copy = NULL;
	size_t len = 0;
	struct shm_record b;
	STACK_OF(X509) *sk = NULL;
	if (region == NULL)
		return AT_E_STATE;
	int rc = shm_read_slot(region, r->blob_slot, r->blob_version, &copy, &len);
	if (rc == 0 && ((rc = shm_parse_record(copy, len, &b)) != 0 || b.kind != SHM_BLOB || strcmp(b.name, r->blob) != 0))
		rc = rc ? rc : AT_E_PARSE;
	if (rc == 0)
		rc = at_chain_parse(&sk, b.chain, b.chain_len);
	shm_copy_free(copy, len);
	if (rc != 0)
		return rc;
	if (!intern_lock(handshake)) {
		*out = sk;
		return 0;
	}
	if (nblobs < BLOBS_MAX && strlen(r->blob) < sizeof(blobs[0].name)) {
		STACK_OF(X509) *keep = X509_chain_up_ref(sk);
		if (keep != NULL) {
			memcpy(blobs[nblobs].name, r->blob, strlen(r->blob) + 1); /* checked to fit above */
			blobs[nblobs++].chain = keep;
		}
	}
	pthread_mutex_unlock(&intern_mu);
	*out = sk;
	return 0;
}

/* A record's PEM to objects; fresh_probe: on a handshake's thread (its own refusal probe, the tables only
 * tried), else under mgr_publish_mu. */
static int objs_parse(struct objs *o, const struct shm_record *r, int fresh_probe)
{
	memset(o, 0, sizeof(*o));
	int rc = chain_parse(&o->leaf, &o->chain, r->chain, r->chain_len, fresh_probe);
	if (rc == 0 && r->blob[0] != '\0') {
		/* The leaf alone here; its intermediates are the blob's. */
		STACK_OF(X509) *inter = NULL;
		rc = blob_chain(r, &inter, fresh_probe);
		if (rc == 0 && o->chain == NULL) {
			o->chain = inter;
		} else if (rc == 0) {
			while (rc == 0 && sk_X509_num(inter) > 0) {
				X509 *x = sk_X509_shift(inter);
				if (!sk_X509_push(o->chain, x)) {
					X509_free(x);
					rc = AT_E_NOMEM;
				}
			}
			sk_X509_pop_free(inter, X509_free);
		}
	}
	if (rc == 0)
		rc = at_key_from_pem(&o->key, r->key, r->key_len);
	/* Our own self-signed TLS-ALPN-01 certificates pass at every level; only issued ones are probed. */
	if (rc == 0 && r->kind != SHM_CHALLENGE)
		rc = fresh_probe ? mgr_refused_levels_fresh(o->leaf, o->key, o->chain, &o->refused, &o->why)
				 : mgr_refused_levels(o->leaf, o->key, o->chain, &o->refused, &o->why);
	if (rc != 0)
		objs_clear(o);
	return rc;
}

/* One record to a new parsed entry: lazy (names and expiry from the record, nothing parsed) when the writer
 * gave them, else parsed now. */
static int parse_record(struct parsed **out, const struct shm_record *r, uint32_t slot, uint64_t version)
{
	struct parsed *p = NULL;
	struct at_cert_info info;
	struct objs eager;
	int rc = 0, lazy = r->kind == SHM_CERT && r->nnames > 0;
	memset(&info, 0, sizeof(info));
	memset(&eager, 0, sizeof(eager));
	if (lazy) {
		char *names[255], buf[256];
		size_t off = 0, n = 0;
		while (rc == 0 && n < 255 && shm_record_name(r, &off, buf) == 0)
			if ((names[n++] = strdup(buf)) == NULL)
				rc = AT_E_NOMEM;
		if (rc == 0 && (p = parsed_new(names, n)) == NULL)
			rc = AT_E_NOMEM;
		for (size_t i = 0; i < n; i++)
			free(names[i]);
		if (rc == 0)
			p->not_after = (time_t)r->not_after;
	} else {
		char *one[] = { (char *)r->name };
		rc = objs_parse(&eager, r, 0);
		if (rc == 0)
			rc = at_cert_info_get(&info, eager.leaf);
		if (rc == 0 && (p = r->kind == SHM_CHALLENGE ? parsed_new(one, 1) : parsed_new(info.names, info.nnames)) == NULL)
			rc = AT_E_NOMEM;
		if (rc == 0) {
			p->not_after = info.not_after;
			p->eager = eager;
			if (r->kind == SHM_CHALLENGE)
				p->has_ip = 0;
		} else {
			objs_clear(&eager);
		}
	}
	at_cert_info_clear(&info);
	if (rc == 0 && r->ocsp_len > 0 && r->kind == SHM_CERT) {
		/* Kept apart from the PEM: the handshake staples it without parsing anything. */
		if ((p->ocsp = malloc(r->ocsp_len)) == NULL) {
			parsed_free(p);
			rc = AT_E_NOMEM;
		} else {
			memcpy(p->ocsp, r->ocsp, r->ocsp_len);
			p->ocsp_len = r->ocsp_len;
			p->ocsp_until = (time_t)r->ocsp_until;
		}
	}
	if (rc != 0)
		return rc;
	p->kind = r->kind;
	p->lazy = lazy;
	p->slot = slot;
	p->version = version;
	*out = p;
	return 0;
}

/* ---- lazy parsing, on a handshake's thread ---- */

static const struct cache_cert *fill(const struct cache_cert *c, const struct parsed *p, const struct objs *o,
				     struct cache_cert *out)
{
	*out = *c;
	out->ocsp = p->ocsp;
	out->ocsp_len = p->ocsp_len;
	out->ocsp_until = p->ocsp_until;
	out->leaf = o->leaf;
	out->chain = o->chain;
	out->key = o->key;
	out->refused_levels = o->refused;
	out->refused_why = o->why;
	out->lazy = NULL;
	out->ask_due = 0;
	return out;
}

static struct objs *materialize(struct parsed *p)
{
	struct shm_region *r = atomic_load_explicit(&lazy_region, memory_order_acquire);
	unsigned char *copy = NULL;
	size_t len = 0;
	struct shm_record rec;
	struct objs *o = NULL;
	if (r == NULL)
		return NULL;
	int rc = shm_read_slot(r, p->slot, p->version, &copy, &len);
	if (rc == AT_E_STATE || rc == AT_E_TIMEOUT || rc == AT_E_NOMEM)
		return NULL; /* replaced meanwhile (a newer snapshot comes), or try again on the next handshake */
	ERR_set_mark();
	if (rc == 0 && (rc = shm_parse_record(copy, len, &rec)) == 0) {
		o = calloc(1, sizeof(*o));
		if (o == NULL) {
			shm_copy_free(copy, len);
			ERR_pop_to_mark();
			return NULL;
		}
		rc = objs_parse(o, &rec, 1);
		/* Only a record that does not parse is marked failed (until its version changes); a shared blob read
		 * that met a write section (AT_E_TIMEOUT) or a replaced one (AT_E_STATE) is tried again by the next
		 * handshake, or the name would keep the host's certificate until its renewal. */
		if (rc == AT_E_NOMEM || rc == AT_E_TIMEOUT || rc == AT_E_STATE) {
			free(o);
			shm_copy_free(copy, len);
			ERR_pop_to_mark();
			return NULL;
		}
	}
	ERR_pop_to_mark();
	shm_copy_free(copy, len);
	if (rc != 0) {
		free(o);
		o = &failed_objs; /* the manager thread's next report could log it; the handshake keeps the host's */
	}
	struct objs *expected = NULL;
	if (!atomic_compare_exchange_strong_explicit(&p->objs, &expected, o, memory_order_acq_rel,
						     memory_order_acquire)) {
		if (o != &failed_objs) {
			objs_clear(o);
			free(o);
		}
		o = expected; /* another handshake parsed it first */
	}
	return o;
}

/* The parsed entry of a lazy snapshot entry now, NULL when withdrawn or expired. */
static struct parsed *cell_entry(const struct cache_cert *c)
{
	struct parsed *p = atomic_load_explicit(&((struct cell *)(void *)c->lazy)->p, memory_order_acquire);
	return p != NULL && p->not_after > time(NULL) ? p : NULL;
}

static const struct cache_cert *resolve(const struct cache_cert *c, struct cache_cert *out)
{
	if (c->lazy == NULL)
		return c;
	struct cell *cell = (struct cell *)(void *)c->lazy;
	time_t now = time(NULL);
	struct parsed *p = atomic_load_explicit(&cell->p, memory_order_acquire);
	if (p == NULL || p->not_after <= now)
		return NULL;
	struct objs *o = atomic_load_explicit(&p->objs, memory_order_acquire);
	if (o == NULL)
		o = materialize(p);
	if (o == NULL || o == &failed_objs)
		return NULL;
	fill(c, p, o, out);
	int64_t next = atomic_load_explicit(&cell->ask_next, memory_order_relaxed);
	long every = atomic_load_explicit(&touch_s, memory_order_relaxed);
	if (every > 0 && (int64_t)now >= next &&
	    atomic_compare_exchange_strong_explicit(&cell->ask_next, &next, (int64_t)now + every,
						    memory_order_relaxed, memory_order_relaxed))
		out->ask_due = 1; /* one handshake of this process tells, the others of the period do not */
	return out;
}

static time_t lazy_not_after(const struct cache_cert *c)
{
	struct parsed *p = atomic_load_explicit(&((struct cell *)(void *)c->lazy)->p, memory_order_acquire);
	return p != NULL ? p->not_after : 0;
}

const struct cache_cert *mgr_cert_parsed(const struct cache_cert *c, struct cache_cert *out)
{
	if (c->lazy == NULL)
		return c;
	struct parsed *p = cell_entry(c);
	struct objs *o = p ? atomic_load_explicit(&p->objs, memory_order_acquire) : NULL;
	if (o == NULL || o == &failed_objs)
		return NULL;
	return fill(c, p, o, out);
}

static void snapshot_release(struct cache_snapshot *s)
{
	/* The entries borrow their objects from parsed entries (parsed_retired on their own clock). */
	free(s->certs);
	free(s->challenges);
	free(s);
}

/* A snapshot of everything held: O(entries) pointer copies, nothing parsed. */
static struct cache_snapshot *snapshot_make(uint64_t generation)
{
	struct cache_snapshot *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->certs = malloc((nentries ? nentries : 1) * sizeof(*s->certs));
	s->challenges = malloc((nchal ? nchal : 1) * sizeof(*s->challenges));
	if (s->certs == NULL || s->challenges == NULL) {
		snapshot_release(s);
		return NULL;
	}
	s->generation = generation;
	s->free_fn = snapshot_release;
	s->has_ip = nip > 0;
	s->resolve = resolve;
	s->lazy_not_after = lazy_not_after;
	for (size_t slot = 0; slot < nheld; slot++) {
		const struct parsed *p = held[slot];
		if (p == NULL)
			continue;
		for (size_t i = 0; i < p->nnames; i++) {
			struct cache_cert *c = p->kind == SHM_CHALLENGE ? &s->challenges[s->nchallenges++]
								 : &s->certs[s->ncerts++];
			*c = (struct cache_cert){ .name = p->names[i], .not_after = p->not_after };
			if (p->lazy) {
				/* The expiry is the cell's entry's (resolve): a renewal swaps it without a new snapshot. */
				c->not_after = (time_t)INT64_MAX;
				c->lazy = (struct cache_lazy *)(void *)cells[slot];
				continue;
			}
			c->leaf = p->eager.leaf;
			c->key = p->eager.key;
			c->ocsp = p->ocsp;
			c->ocsp_len = p->ocsp_len;
			c->ocsp_until = p->ocsp_until;
			if (p->kind != SHM_CHALLENGE) {
				c->chain = p->eager.chain;
				c->refused_levels = p->eager.refused;
				c->refused_why = p->eager.why;
			}
		}
	}
	return s;
}

static void hold(size_t slot, struct parsed *p)
{
	struct parsed *old = held[slot];
	if (old != NULL) {
		*(old->kind == SHM_CHALLENGE ? &nchal : &nentries) -= old->nnames;
		nip -= old->has_ip;
		old->retired_at_ms = at_clock_ms();
		old->retired_next = parsed_retired;
		parsed_retired = old;
	}
	held[slot] = p;
	atomic_store_explicit(&cells[slot]->p, p, memory_order_release);
	if (p != NULL) {
		*(p->kind == SHM_CHALLENGE ? &nchal : &nentries) += p->nnames;
		nip += p->has_ip;
	}
}

static void sweep_retired(void)
{
	long now = at_clock_ms();
	struct parsed **pp = &parsed_retired;
	size_t freed = 0;
	while (*pp) {
		struct parsed *p = *pp;
		if (now - p->retired_at_ms > 2L * CACHE_GRACE_S * 1000L) {
			*pp = p->retired_next;
			parsed_free(p);
			freed++;
		} else {
			pp = &p->retired_next;
		}
	}
	if (freed >= 1024)
		malloc_trim(0); /* as the cache does for its snapshots: the pages go back, not only the chunks */
}

static int table_reserve(size_t n)
{
	if (n <= nheld)
		return 0;
	uint64_t *k = realloc(held_version, n * sizeof(*k));
	if (k == NULL)
		return AT_E_NOMEM;
	held_version = k;
	memset(held_version + nheld, 0, (n - nheld) * sizeof(*held_version));
	struct parsed **h = realloc(held, n * sizeof(*h));
	if (h == NULL)
		return AT_E_NOMEM;
	held = h;
	memset(held + nheld, 0, (n - nheld) * sizeof(*held));
	struct cell **cv = realloc(cells, n * sizeof(*cv));
	if (cv == NULL)
		return AT_E_NOMEM;
	cells = cv;
	for (size_t i = nheld; i < n; i++) {
		if ((cells[i] = calloc(1, sizeof(struct cell))) == NULL) {
			while (i-- > nheld)
				free(cells[i]);
			return AT_E_NOMEM;
		}
	}
	nheld = n;
	return 0;
}

/* Whether p can take old's place without a new snapshot: both lazy certificates with the same names. */
static int same_names(const struct parsed *old, const struct parsed *p)
{
	if (old == NULL || p == NULL || !old->lazy || !p->lazy || old->nnames != p->nnames)
		return 0;
	for (size_t i = 0; i < p->nnames; i++)
		if (strcmp(old->names[i], p->names[i]) != 0)
			return 0;
	return 1;
}

/*
 * A new version of a certificate this process has served (old was parsed by a handshake): parsed here, on the
 * follower's thread, from the copy just read, so that no handshake has to read the region for it. A handshake's
 * read gives up at once when a write section is open (shm_read_slot: it may not wait), and on a loaded machine
 * a writer preempted inside one then made a renewed name's first handshake in this process get the host's own
 * certificate (seen once in CI, in a takeover under ASan). Names never served stay lazy (scale: a site's
 * certificate is parsed by the processes that serve it, when they first do). A parse that fails here leaves
 * the entry lazy, as it was.
 */
static void warm(struct parsed *old, struct parsed *p, const struct shm_record *r)
{
	struct objs *was = old != NULL && old->lazy ? atomic_load_explicit(&old->objs, memory_order_acquire) : NULL;
	if (!p->lazy || was == NULL || was == &failed_objs)
		return;
	struct objs *o = calloc(1, sizeof(*o)); /* owned by p once stored (parsed_free) */
	if (o == NULL)
		return;
	ERR_set_mark();
	int rc = objs_parse(o, r, 0);
	ERR_pop_to_mark();
	if (rc != 0) {
		free(o);
		return;
	}
	atomic_store_explicit(&p->objs, o, memory_order_release); /* p is not yet visible to any handshake */
}

/* Parses what changed and takes it; a record that does not parse keeps what its slot held (logged once per
 * version: its version is taken, so it is not tried again until it changes). *rebuild: whether the snapshot's
 * entries changed (else every change was swapped in place); *urgent: whether a change other than a new
 * certificate in a free slot did (a challenge, a withdrawal, a slot whose names changed: the current snapshot
 * would serve it wrongly until the next is built). */
static int apply(const struct shm_changes *c, int *rebuild, int *urgent)
{
	size_t need = c->nslots;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].slot + 1u > need)
			need = c->v[i].slot + 1u;
	int rc = table_reserve(need);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < c->n; i++) {
		const struct shm_change *x = &c->v[i];
		struct shm_record r;
		struct parsed *p = NULL;
		if (x->rec == NULL) {
			*rebuild |= held[x->slot] != NULL;
			*urgent |= held[x->slot] != NULL;
			hold(x->slot, NULL);
		} else if ((rc = shm_parse_record(x->rec, x->len, &r)) != 0) {
			at_log_error("the shared region's records are malformed (%s); keeping the current ones",
				     at_strerror(rc));
		} else if (r.kind == SHM_BLOB) {
			*rebuild |= held[x->slot] != NULL;
			*urgent |= held[x->slot] != NULL;
			hold(x->slot, NULL); /* read from its slot when a certificate that names it is first used */
		} else if ((rc = parse_record(&p, &r, x->slot, x->version)) != 0) {
			if (rc == AT_E_NOMEM)
				return rc; /* nothing taken for this one: the next change tries again */
			at_log_error("a certificate in the shared region does not parse (%s); keeping the current ones",
				     at_strerror(rc));
		} else {
			warm(held[x->slot], p, &r);
			int changed = !same_names(held[x->slot], p);
			*rebuild |= changed;
			*urgent |= changed && (held[x->slot] != NULL || p->kind != SHM_CERT);
			hold(x->slot, p);
		}
		held_version[x->slot] = x->version;
	}
	return 0;
}

/* Each new name makes a new snapshot of every name (O(names) pointer copies, the old one kept for the cache's
 * grace): thousands of stored names loaded at start, read by every process four times a second, made a snapshot
 * of up to all of them each time (at 100,000 names hundreds of MiB retired per process, and quadratic work).
 * New certificates in free slots (the only changes that can wait: the current snapshot serves nothing wrongly,
 * it lacks them) wait until as long has passed since the last build as that build's size makes worth it,
 * 50 us a name (10,000 names: 0.5 s; 100,000: 5 s); anything else (a challenge, a withdrawal, names that
 * changed) builds at once. Guarded by mgr_publish_mu. */
#define BUILD_US_PER_NAME 50
static long built_at_ms;
static uint64_t deferred_generation; /* the generation whose new names are not in a snapshot yet; 0: none */

static int build_now(int urgent)
{
	long gap_ms = (long)(nentries * BUILD_US_PER_NAME / 1000);
	return urgent || at_clock_ms() - built_at_ms >= gap_ms;
}

static int sync_region(struct shm_region *shm, int asked);

int mgr_sync_region(struct shm_region *shm)
{
	return sync_region(shm, 0);
}

int mgr_sync_now(void)
{
	return sync_region(mgr_host->shm, 1);
}

/* asked: a handshake waits for what the region holds now (a challenge, an on-demand name): nothing waits. */
static int sync_region(struct shm_region *shm, int asked)
{
	struct shm_changes c;
	int rc = 0;
	/* The manager process serves no handshakes: it has no cache to fill. */
	if (shm == NULL || mgr_host->publish == NULL)
		return 0;
	pthread_mutex_lock(&mgr_publish_mu);
	uint64_t now_gen = atomic_load(&shm->generation);
	if (now_gen == local_generation && deferred_generation != 0) {
		/* New names whose snapshot waited (see build_now): built once their wait is over. */
		if (build_now(asked)) {
			struct cache_snapshot *s = snapshot_make(deferred_generation);
			if (s != NULL) {
				mgr_host->publish(s);
				built_at_ms = at_clock_ms();
				deferred_generation = 0;
			}
		}
		goto out;
	}
	if (now_gen == local_generation ||
	    (bad && now_gen == bad_generation && atomic_load(&shm->seq) == bad_seq))
		goto out;
	rc = mgr_refusal_ready(); /* lazy parses use its context */
	if (rc == 0)
		rc = shm_read_changes(shm, held_version, nheld, seen_writes, &c);
	if (rc == 0) {
		const struct shim_config *cfg = mgr_host->cfg;
		atomic_store_explicit(&touch_s, cfg != NULL && cfg->on_demand ? ondemand_touch_s(cfg) : 0,
				      memory_order_relaxed);
		atomic_store_explicit(&lazy_region, shm, memory_order_release);
		int first = mgr_host->current == NULL || mgr_host->current() == NULL;
		int rebuild = first || deferred_generation != 0, urgent = first || asked;
		rc = apply(&c, &rebuild, &urgent);
		if (rc == 0) {
			int defer = rebuild && !build_now(urgent);
			struct cache_snapshot *s = rebuild && !defer ? snapshot_make(c.generation) : NULL;
			if (rebuild && !defer && s == NULL) {
				rc = AT_E_NOMEM;
			} else {
				if (s != NULL) {
					mgr_host->publish(s);
					built_at_ms = at_clock_ms();
				}
				deferred_generation = defer ? c.generation : 0;
				local_generation = c.generation;
				seen_writes = c.nwrites;
				bad = 0;
				at_log_debug("pid %d now serves generation %llu (%zu record(s) changed%s)", (int)getpid(),
					     (unsigned long long)c.generation, c.n,
					     s ? "" : defer ? ", new names indexed shortly" : ", swapped in place");
			}
		}
		shm_changes_free(&c);
	}
	if (rc != 0 && rc != AT_E_NOTFOUND && rc != AT_E_NOMEM) {
		if (!bad)
			at_log_error("pid %d cannot read the shared region (%s); it keeps serving the certificates it "
				     "has until the region is written again", (int)getpid(), at_strerror(rc));
		bad = 1;
		bad_generation = now_gen;
		bad_seq = atomic_load(&shm->seq);
	}
out:
	/* What this process serves, for `autotls status` (seen.c): a note in the channel, no system call. */
	if (shm == mgr_host->shm && local_generation != 0)
		mgr_seen_note(local_generation);
	/* Retired snapshots and parsed entries are freed on the clock, not only at the next change. */
	mgr_host->publish(NULL);
	sweep_retired();
	pthread_mutex_unlock(&mgr_publish_mu);
	return rc == AT_E_NOTFOUND ? 0 : rc;
}

int mgr_sync(void)
{
	return mgr_sync_region(mgr_host->shm);
}
