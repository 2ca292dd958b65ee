/*
 * util/id_slots.c, the stable ids of the sites scheduler and the stapler: ids are unique while taken, come back
 * for reuse, are the lowest free first after a growth, survive growth with their pointers, and a reserve makes
 * every later take possible without allocating (checked against a plain array under random operations).
 */
#include "util/id_slots.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

#define MANY 20000

static void ids_unique_reused_and_kept_across_growth(void)
{
	struct at_id_slots s;
	memset(&s, 0, sizeof(s));
	static int objs[MANY];
	uint32_t *held = calloc(MANY, sizeof(*held));
	unsigned char *in_use = calloc((size_t)MANY * 4, 1);
	REQUIRE(held != NULL && in_use != NULL);
	size_t nheld = 0, bad = 0;
	srand(7);
	for (int step = 0; step < 200000; step++) {
		if (nheld < MANY && (nheld == 0 || rand() % 3 != 0)) {
			uint32_t id;
			REQUIRE(at_id_slots_take(&s, &objs[nheld], &id) == 0);
			if (id >= (size_t)MANY * 4 || in_use[id])
				bad++;
			else
				in_use[id] = 1;
			held[nheld++] = id;
		} else {
			size_t k = (size_t)rand() % nheld;
			uint32_t id = held[k];
			held[k] = held[--nheld];
			in_use[id] = 0;
			at_id_slots_put(&s, id);
			if (s.at[id] != NULL)
				bad++;
		}
		if (at_id_slots_used(&s) != nheld)
			bad++;
	}
	for (size_t i = 0; i < nheld; i++)
		if (s.at[held[i]] == NULL)
			bad++;
	CHECK_INT(bad, ==, 0);
	CHECK_INT(s.n, <=, (size_t)MANY * 2); /* doubling from 64: never more than twice the most held */
	at_id_slots_free(&s);
	free(held);
	free(in_use);
}

static void reserve_then_takes_without_growth(void)
{
	struct at_id_slots s;
	int x;
	memset(&s, 0, sizeof(s));
	REQUIRE(at_id_slots_reserve(&s, 1000) == 0);
	CHECK_INT(s.n, ==, 1024);
	void **at = s.at;
	CHECK_INT(at_id_slots_take_reserved(&s, &x), ==, 0); /* the lowest free id first */
	for (int i = 1; i < 1024; i++)
		(void)at_id_slots_take_reserved(&s, &x);
	CHECK(s.at == at); /* no reallocation */
	CHECK_INT(s.nfree, ==, 0);
	CHECK_INT(at_id_slots_reserve(&s, 10), ==, 0); /* smaller: nothing */
	CHECK_INT(s.n, ==, 1024);
	CHECK_INT(at_id_slots_reserve(&s, (size_t)UINT32_MAX + 1), ==, AT_E_RANGE);
	at_id_slots_free(&s);
}

int main(void)
{
	RUN(ids_unique_reused_and_kept_across_growth);
	RUN(reserve_then_takes_without_growth);
	return TEST_EXIT();
}
