/* The snapshot cache (see cache.h). */
#include "shim/preload/cache.h"
#include "util/clock.h"
#include "util/fnv.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Freeing snapshots of at least this many entries at once gives the freed pages back (malloc_trim): a burst of
 * new names retires one snapshot of every name per change, and without it their pages stayed resident in the
 * manager thread's arena for good (10,000 certificates under nginx: 15.5 MiB in each process after the load,
 * 3.7 MiB once trimmed). */
#define CACHE_TRIM_ENTRIES 1024

static _Atomic(struct cache_snapshot *) current;
static struct cache_snapshot *retired; /* the publisher's own list: only the manager thread touches it */
static atomic_uint refused_seen;       /* cache_note_refused: handshakes write it, the manager thread reads */

const struct cache_snapshot *cache_current(void)
{
	return atomic_load_explicit(&current, memory_order_acquire);
}

static uint32_t name_hash(const char *s)
{
	return at_fnv1a32(AT_FNV32_BASIS, s);
}

/* The name index of s (see cache.h); left NULL when there is no memory for it. */
static void index_build(struct cache_snapshot *s)
{
	size_t slots = 16;
	while (slots < 2 * s->ncerts)
		slots *= 2;
	uint32_t *ix = s->ncerts && s->ncerts < UINT32_MAX / 2 ? calloc(slots, sizeof(*ix)) : NULL;
	if (ix == NULL)
		return;
	/* In array order, so that of two entries for one name the first is met first, as a scan would. */
	for (size_t i = 0; i < s->ncerts; i++) {
		size_t k = name_hash(s->certs[i].name) & (slots - 1);
		while (ix[k] != 0)
			k = (k + 1) & (slots - 1);
		ix[k] = (uint32_t)i + 1;
	}
	s->index = ix;
	s->index_mask = slots - 1;
}

static void snapshot_free(struct cache_snapshot *r)
{
	free(r->index);
	r->index = NULL;
	if (r->free_fn)
		r->free_fn(r);
}

void cache_publish(struct cache_snapshot *s)
{
	if (s != NULL && s->index == NULL)
		index_build(s);
	long now = at_clock_ms();
	struct cache_snapshot *old = s ? atomic_exchange_explicit(&current, s, memory_order_acq_rel) : NULL;
	if (old) {
		old->retired_at_ms = now;
		old->retired_next = retired;
		retired = old;
	}
	struct cache_snapshot **pp = &retired;
	size_t freed = 0;
	while (*pp) {
		struct cache_snapshot *r = *pp;
		if (now - r->retired_at_ms > CACHE_GRACE_S * 1000L) {
			*pp = r->retired_next;
			freed += r->ncerts + r->nchallenges;
			snapshot_free(r);
		} else {
			pp = &r->retired_next;
		}
	}
	if (freed >= CACHE_TRIM_ENTRIES)
		malloc_trim(0);
}

/* Whether c serves at now: its expiry, a lazy entry's through its builder (see cache.h). */
static int live(const struct cache_snapshot *s, const struct cache_cert *c, time_t now)
{
	if (c->lazy != NULL && s->lazy_not_after != NULL)
		return s->lazy_not_after(c) > now;
	return c->not_after > now;
}

/* The first live entry named exactly name, through the index. */
static const struct cache_cert *indexed(const struct cache_snapshot *s, const char *name, time_t now)
{
	for (size_t k = name_hash(name) & s->index_mask; s->index[k] != 0; k = (k + 1) & s->index_mask) {
		const struct cache_cert *c = &s->certs[s->index[k] - 1];
		if (strcmp(c->name, name) == 0 && live(s, c, now))
			return c;
	}
	return NULL;
}

const struct cache_cert *cache_find_cert(const struct cache_snapshot *s, const char *sni, time_t now)
{
	if (s == NULL || sni == NULL)
		return NULL;
	if (s->index != NULL) {
		const struct cache_cert *c = indexed(s, sni, now);
		const char *dot = strchr(sni, '.');
		char wild[258];
		size_t n = dot ? strlen(dot) : 0;
		if (c != NULL || dot == NULL || dot == sni || n + 2 > sizeof(wild))
			return c;
		/* "*" + ".rest" on the stack: a wildcard covers exactly one label. */
		wild[0] = '*';
		memcpy(wild + 1, dot, n + 1);
		return indexed(s, wild, now);
	}
	const struct cache_cert *wild = NULL;
	const char *dot = strchr(sni, '.');
	for (size_t i = 0; i < s->ncerts; i++) {
		const struct cache_cert *c = &s->certs[i];
		if (!live(s, c, now))
			continue;
		if (strcmp(c->name, sni) == 0)
			return c;
		if (!wild && dot && dot != sni && c->name[0] == '*' && c->name[1] == '.' && strcmp(c->name + 1, dot) == 0)
			wild = c;
	}
	return wild;
}

const struct cache_cert *cache_find_challenge(const struct cache_snapshot *s, const char *sni)
{
	if (s == NULL || sni == NULL)
		return NULL;
	for (size_t i = 0; i < s->nchallenges; i++)
		if (strcmp(s->challenges[i].name, sni) == 0)
			return &s->challenges[i];
	return NULL;
}

unsigned cache_level_bit(int level)
{
	return 1u << (level < 0 ? 0 : level > 5 ? 5 : level);
}

void cache_note_refused(unsigned bit)
{
	if ((atomic_load_explicit(&refused_seen, memory_order_relaxed) & bit) == 0)
		atomic_fetch_or_explicit(&refused_seen, bit, memory_order_relaxed);
}

unsigned cache_refused_seen(void)
{
	return atomic_load_explicit(&refused_seen, memory_order_relaxed);
}
