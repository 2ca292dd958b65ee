/*
 * util/due_queue.c, the schedule behind the stapling of many certificates (shim/manager/staple_many.c): 100,000
 * certificates due at once are taken at most a turn's worth at a time, earliest first and first come first
 * served among equals, each exactly once; moving and removing ids keeps the heap right (checked against a
 * plain array under random operations); what is not due yet is never taken.
 */
#include "util/due_queue.h"
#include "tests/test.h"

#include <stdlib.h>
#include <string.h>

#define MANY 100000
#define PER_TURN 16

/* 100,000 certificates registered at start with nothing stored: all due now, taken 16 a turn. */
static void many_due_at_once_bounded_per_turn(void)
{
	struct at_due_queue q;
	memset(&q, 0, sizeof(q));
	time_t now = 1000000;
	for (uint32_t i = 0; i < MANY; i++)
		REQUIRE(at_due_set(&q, i, now) == 0);
	CHECK_INT(at_due_count(&q), ==, MANY);
	unsigned char *seen = calloc(MANY, 1);
	REQUIRE(seen != NULL);
	uint32_t out[PER_TURN];
	size_t turns = 0, total = 0, order_ok = 1, expect = 0;
	for (;;) {
		size_t n = at_due_take(&q, now, out, PER_TURN);
		if (n == 0)
			break;
		CHECK_INT(n, <=, PER_TURN);
		for (size_t k = 0; k < n; k++) {
			CHECK_INT(seen[out[k]], ==, 0);
			seen[out[k]] = 1;
			order_ok &= out[k] == expect++; /* equal times: in the order they were set */
		}
		total += n;
		turns++;
	}
	CHECK_INT(total, ==, MANY);
	CHECK_INT(turns, ==, (MANY + PER_TURN - 1) / PER_TURN);
	CHECK(order_ok);
	CHECK_INT(at_due_count(&q), ==, 0);
	free(seen);
	at_due_clear(&q);
}

/* Half stored (due at their refresh, later), half not (due now): a turn takes only the due ones, and the later
 * ones come when their time does, earliest first. */
static void only_what_is_due(void)
{
	struct at_due_queue q;
	memset(&q, 0, sizeof(q));
	time_t now = 5000;
	for (uint32_t i = 0; i < 1000; i++)
		REQUIRE(at_due_set(&q, i, i % 2 ? now + 100 + (time_t)(1000 - i) : now) == 0);
	uint32_t out[PER_TURN];
	size_t taken = 0, n;
	while ((n = at_due_take(&q, now, out, PER_TURN)) > 0) {
		for (size_t k = 0; k < n; k++)
			CHECK_INT(out[k] % 2, ==, 0);
		taken += n;
	}
	CHECK_INT(taken, ==, 500);
	time_t next = 0;
	CHECK_OK(at_due_next(&q, &next));
	CHECK_INT(next, ==, now + 100 + 1); /* id 999 */
	time_t last = 0;
	taken = 0;
	while ((n = at_due_take(&q, now + 2000, out, PER_TURN)) > 0) {
		for (size_t k = 0; k < n; k++) {
			time_t due = now + 100 + (time_t)(1000 - out[k]);
			CHECK_INT(due, >=, last);
			last = due;
		}
		taken += n;
	}
	CHECK_INT(taken, ==, 500);
	CHECK_INT(at_due_next(&q, &next), ==, AT_E_NOTFOUND);
	at_due_clear(&q);
}

/* Random sets, moves and removes against a plain array: the earliest and every id's time always agree. */
static void random_against_a_plain_array(void)
{
	enum { N = 2000 };
	static time_t plain[N]; /* 0: not scheduled */
	struct at_due_queue q;
	memset(&q, 0, sizeof(q));
	srand(7);
	int bad = 0;
	for (int step = 0; step < 50000 && !bad; step++) {
		uint32_t id = (uint32_t)(rand() % N);
		int op = rand() % 4;
		if (op < 2) {
			time_t t = 1 + rand() % 100000;
			REQUIRE(at_due_set(&q, id, t) == 0);
			plain[id] = t;
		} else if (op == 2) {
			at_due_remove(&q, id);
			plain[id] = 0;
		} else {
			time_t now = 1 + rand() % 100000;
			uint32_t out[4];
			size_t n = at_due_take(&q, now, out, 4);
			for (size_t k = 0; k < n; k++) {
				bad |= plain[out[k]] == 0 || plain[out[k]] > now;
				plain[out[k]] = 0;
			}
		}
		time_t min = 0, next = 0;
		size_t count = 0;
		for (int i = 0; i < N; i++) {
			if (plain[i] != 0) {
				count++;
				if (min == 0 || plain[i] < min)
					min = plain[i];
			}
			time_t w = 0;
			int has = at_due_when(&q, (uint32_t)i, &w);
			if (step % 997 == 0)
				bad |= has != (plain[i] != 0) || (has && w != plain[i]);
		}
		bad |= count != at_due_count(&q);
		bad |= count > 0 && (at_due_next(&q, &next) != 0 || next != min);
	}
	CHECK(!bad);
	CHECK_INT(at_due_set(&q, UINT32_MAX, 1), ==, AT_E_RANGE);
	at_due_clear(&q);
}

/* A reserve of n makes room for ids 0..n-1 at once: setting, moving and removing them afterwards allocates
 * nothing (so it cannot fail), what was scheduled before is kept, and a smaller reserve changes nothing. */
static void reserve_then_no_allocation(void)
{
	enum { N = 1000 };
	struct at_due_queue q;
	memset(&q, 0, sizeof(q));
	REQUIRE(at_due_set(&q, 3, 50) == 0);
	CHECK_OK(at_due_reserve(&q, N));
	CHECK_INT(q.cap, >=, N);
	CHECK_INT(q.npos, >=, N);
	time_t w = 0;
	CHECK(at_due_when(&q, 3, &w));
	CHECK_INT(w, ==, 50);
	const struct at_due_item *heap = q.heap;
	const uint32_t *pos = q.pos;
	size_t cap = q.cap, npos = q.npos;
	for (uint32_t i = 0; i < N; i++)
		REQUIRE(at_due_set(&q, N - 1 - i, 100 + (time_t)(i % 7)) == 0);
	for (uint32_t i = 0; i < N; i += 3)
		at_due_remove(&q, i);
	for (uint32_t i = 0; i < N; i++)
		REQUIRE(at_due_set(&q, i, 200 - (time_t)(i % 5)) == 0);
	CHECK(q.heap == heap && q.pos == pos && q.cap == cap && q.npos == npos);
	CHECK_INT(at_due_count(&q), ==, N);
	CHECK_OK(at_due_reserve(&q, 10));
	CHECK(q.heap == heap && q.pos == pos);
	CHECK_INT(at_due_count(&q), ==, N);
	time_t next = 0;
	CHECK_OK(at_due_next(&q, &next));
	CHECK_INT(next, ==, 196);
	CHECK_INT(at_due_reserve(&q, (size_t)UINT32_MAX + 1), ==, AT_E_RANGE);
	at_due_clear(&q);
}

int main(void)
{
	RUN(many_due_at_once_bounded_per_turn);
	RUN(only_what_is_due);
	RUN(random_against_a_plain_array);
	RUN(reserve_then_no_allocation);
	return TEST_EXIT();
}
