/*
 * util/name_index.c, the index by name behind the on-demand names (shim/manager/ondemand.c) and the staple table
 * (shim/manager/staple_many.c): 100,000 names put and each found at its position; names taken out are not found,
 * their slots are taken again first, and a rebuild leaves out the positions the caller says hold no entry;
 * checked against a plain array under random operations.
 */
#include "util/name_index.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANY 100000

struct table {
	char (*name)[24];
	unsigned char *live;
	size_t n;
};

static const char *name_at(const void *arg, size_t pos)
{
	const struct table *t = arg;
	return t->live[pos] ? t->name[pos] : NULL;
}

/* One name more, as the callers do: a rebuild first when the index is full, then the slot find gave. */
static void add(struct at_name_index *ix, struct table *t, size_t pos)
{
	if (at_name_index_full(ix))
		REQUIRE(at_name_index_rebuild(ix, t->n + 1, t->n, name_at, t) == 0);
	int found;
	size_t k = at_name_index_find(ix, t->name[pos], name_at, t, &found);
	CHECK_INT(found, ==, 0);
	t->live[pos] = 1;
	at_name_index_put(ix, k, pos);
	if (pos >= t->n)
		t->n = pos + 1;
}

static long where(const struct at_name_index *ix, struct table *t, const char *name)
{
	int found;
	size_t k = at_name_index_find(ix, name, name_at, t, &found);
	return found ? (long)at_name_index_pos(ix, k) : -1;
}

static void many_names_each_found(void)
{
	struct table t = { calloc(MANY, 24), calloc(MANY, 1), 0 };
	struct at_name_index ix = { 0 };
	REQUIRE(t.name != NULL && t.live != NULL);
	for (size_t i = 0; i < MANY; i++) {
		snprintf(t.name[i], 24, "n%zu.scale.test", i);
		add(&ix, &t, i);
	}
	size_t right = 0;
	for (size_t i = 0; i < MANY; i++)
		right += where(&ix, &t, t.name[i]) == (long)i;
	CHECK_INT(right, ==, MANY);
	CHECK_INT(where(&ix, &t, "n100000.scale.test"), ==, -1);
	CHECK_INT(ix.fill, ==, MANY);
	CHECK_INT(ix.fill, <=, ix.mask / 2);
	free(ix.slot);
	free(t.name);
	free(t.live);
}

static void forgotten_then_reused(void)
{
	static char names[3000][24];
	static unsigned char live[3000];
	struct table t = { names, live, 0 };
	struct at_name_index ix = { 0 };
	for (size_t i = 0; i < 3000; i++)
		snprintf(names[i], 24, "r%zu.test", i);
	srand(7);
	size_t ops = 0;
	for (int round = 0; round < 200000; round++) {
		size_t i = (size_t)rand() % 3000;
		if (live[i]) {
			at_name_index_forget(&ix, names[i], name_at, &t);
			live[i] = 0;
		} else {
			add(&ix, &t, i);
		}
		ops++;
		if (round % 997 == 0) {
			size_t right = 0;
			for (size_t j = 0; j < 3000; j++)
				right += where(&ix, &t, names[j]) == (live[j] ? (long)j : -1);
			CHECK_INT(right, ==, 3000);
		}
	}
	/* A name taken out and put again: found again; it takes a taken-out mark on its probe (the one it left, or
	 * one before it), so the fill stays. */
	size_t i = 0;
	while (!live[i])
		i++;
	int found;
	at_name_index_forget(&ix, names[i], name_at, &t);
	size_t fill = ix.fill;
	size_t k1 = at_name_index_find(&ix, names[i], name_at, &t, &found);
	CHECK_INT(found, ==, 0);
	CHECK(ix.slot[k1] == AT_NAME_INDEX_GONE);
	at_name_index_put(&ix, k1, i);
	CHECK_INT(ix.fill, ==, fill);
	CHECK_INT(where(&ix, &t, names[i]), ==, (long)i);
	/* A rebuild leaves out what name_at says is no entry, and its marks with it. */
	live[i] = 0;
	REQUIRE(at_name_index_rebuild(&ix, t.n, t.n, name_at, &t) == 0);
	size_t nlive = 0;
	for (size_t j = 0; j < 3000; j++)
		nlive += live[j];
	CHECK_INT(ix.fill, ==, nlive);
	CHECK_INT(where(&ix, &t, names[i]), ==, -1);
	CHECK_INT(ops, ==, 200000);
	free(ix.slot);
}

int main(void)
{
	RUN(many_names_each_found);
	RUN(forgotten_then_reused);
	return TEST_EXIT();
}
