/* The snapshot cache (see cache.h). */
#include "shim/preload/cache.h"
#include "util/clock.h"

#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

static _Atomic(struct cache_snapshot *) current;
static struct cache_snapshot *retired; /* the publisher's own list: only the manager thread touches it */
static atomic_uint refused_seen;       /* cache_note_refused: handshakes write it, the manager thread reads */

const struct cache_snapshot *cache_current(void)
{
	return atomic_load_explicit(&current, memory_order_acquire);
}

void cache_publish(struct cache_snapshot *s)
{
	long now = at_clock_ms();
	struct cache_snapshot *old = atomic_exchange_explicit(&current, s, memory_order_acq_rel);
	if (old) {
		old->retired_at_ms = now;
		old->retired_next = retired;
		retired = old;
	}
	struct cache_snapshot **pp = &retired;
	while (*pp) {
		struct cache_snapshot *r = *pp;
		if (now - r->retired_at_ms > CACHE_GRACE_S * 1000L) {
			*pp = r->retired_next;
			if (r->free_fn)
				r->free_fn(r);
		} else {
			pp = &r->retired_next;
		}
	}
}

const struct cache_cert *cache_find_cert(const struct cache_snapshot *s, const char *sni, time_t now)
{
	if (s == NULL || sni == NULL)
		return NULL;
	const struct cache_cert *wild = NULL;
	const char *dot = strchr(sni, '.');
	for (size_t i = 0; i < s->ncerts; i++) {
		const struct cache_cert *c = &s->certs[i];
		if (c->not_after <= now)
			continue;
		if (strcmp(c->name, sni) == 0)
			return c;
		if (!wild && dot && c->name[0] == '*' && c->name[1] == '.' && strcmp(c->name + 1, dot) == 0)
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
