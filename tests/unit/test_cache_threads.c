/*
 * The handshake path's cache under concurrency (built with SANITIZE=thread in CI): reader threads look up
 * certificates in the current snapshot as handshakes do, while the publisher swaps snapshots as fast as it
 * can. Readers must always see a complete snapshot (its entries consistent with its generation) and the
 * retired ones must stay readable for the grace period.
 */
#include "shim/preload/cache.c"
#include "tests/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define READERS 4
#define PUBLISHES 2000

static atomic_int done;
static atomic_long lookups, inconsistent;

static void free_snapshot(struct cache_snapshot *s)
{
	free(s->certs);
	free(s);
}

static struct cache_snapshot *make(uint64_t gen)
{
	struct cache_snapshot *s = calloc(1, sizeof(*s));
	s->generation = gen;
	s->ncerts = 2;
	s->certs = calloc(2, sizeof(*s->certs));
	s->certs[0].name = "a.example.test";
	s->certs[1].name = "*.wild.test";
	/* not_after carries the generation so a reader can tell a torn snapshot */
	s->certs[0].not_after = (time_t)(4000000000LL + (long long)gen);
	s->certs[1].not_after = (time_t)(4000000000LL + (long long)gen);
	s->free_fn = free_snapshot;
	return s;
}

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&done)) {
		const struct cache_snapshot *s = cache_current();
		if (s == NULL)
			continue;
		const struct cache_cert *a = cache_find_cert(s, "a.example.test", 1000);
		const struct cache_cert *w = cache_find_cert(s, "x.wild.test", 1000);
		if (a == NULL || w == NULL || a->not_after != (time_t)(4000000000LL + (long long)s->generation) ||
		    w->not_after != a->not_after)
			atomic_fetch_add(&inconsistent, 1);
		atomic_fetch_add(&lookups, 1);
	}
	return NULL;
}

static void readers_see_whole_snapshots(void)
{
	pthread_t t[READERS];
	cache_publish(make(0));
	for (int i = 0; i < READERS; i++)
		REQUIRE(pthread_create(&t[i], NULL, reader, NULL) == 0);
	for (uint64_t g = 1; g <= PUBLISHES; g++)
		cache_publish(make(g));
	atomic_store(&done, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	printf("  %ld lookups during %d publishes\n", atomic_load(&lookups), PUBLISHES);
	CHECK_INT(atomic_load(&inconsistent), ==, 0);
	CHECK_INT(cache_current()->generation, ==, PUBLISHES);
	CHECK(atomic_load(&lookups) > 0);
}

int main(void)
{
	RUN(readers_see_whole_snapshots);
	return TEST_EXIT();
}
