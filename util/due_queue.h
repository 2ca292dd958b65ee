/*
 * A schedule of due times by id (due_queue.c): a binary min-heap with each id's place kept beside it, so that
 * setting, moving or removing one id's time costs O(log n) and the earliest is at hand, however many ids there
 * are (the manager's OCSP staples: one id per managed certificate, 100,000 of them). Taking what is due takes at
 * most a given number, earliest first: the caller's work per turn is bounded whatever came due at once.
 * No lock: the caller's.
 */
#ifndef AUTOTLS_UTIL_DUE_QUEUE_H
#define AUTOTLS_UTIL_DUE_QUEUE_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct at_due_item {
	time_t due;
	uint32_t id;
	uint32_t seq; /* the order ids were set in: equal times are taken first come, first served */
};

struct at_due_queue {
	struct at_due_item *heap; /* owned */
	size_t n, cap;
	uint32_t *pos; /* owned: pos[id] = place in heap + 1, 0 when id is not scheduled */
	size_t npos;
	uint32_t seq;
};

/* Schedules id at due (a new one, or moves it). 0 or AT_E_NOMEM (the queue unchanged). */
int at_due_set(struct at_due_queue *q, uint32_t id, time_t due) AT_MUST_CHECK;

/* Makes room for ids 0..n-1 scheduled all at once: after it, at_due_set of such an id cannot fail (a caller that
 * must not fail halfway reserves first). 0, AT_E_NOMEM (the queue's schedule unchanged) or AT_E_RANGE. */
int at_due_reserve(struct at_due_queue *q, size_t n) AT_MUST_CHECK;

/* Unschedules id (nothing when it is not scheduled). */
void at_due_remove(struct at_due_queue *q, uint32_t id);

/* Whether id is scheduled, and when (*due, may be NULL). */
int at_due_when(const struct at_due_queue *q, uint32_t id, time_t *due);

/* The earliest due time: 0 with *due, AT_E_NOTFOUND when nothing is scheduled. */
int at_due_next(const struct at_due_queue *q, time_t *due) AT_MUST_CHECK;

/* Takes (unschedules) at most max ids due at now or before, earliest first, into out; returns how many. */
size_t at_due_take(struct at_due_queue *q, time_t now, uint32_t *out, size_t max);

size_t at_due_count(const struct at_due_queue *q);

void at_due_clear(struct at_due_queue *q);

#endif
