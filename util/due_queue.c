/*
 * The due-time schedule (due_queue.h): a binary min-heap ordered by (due, seq), and pos[] to find an id's place.
 */
#include "util/due_queue.h"

#include <stdlib.h>
#include <string.h>

static int before(const struct at_due_item *a, const struct at_due_item *b)
{
	if (a->due != b->due)
		return a->due < b->due;
	return (int32_t)(a->seq - b->seq) < 0; /* wraps after 2^32 sets: order among equal times only */
}

static void place(struct at_due_queue *q, size_t i, struct at_due_item it)
{
	q->heap[i] = it;
	q->pos[it.id] = (uint32_t)i + 1;
}

static void up(struct at_due_queue *q, size_t i)
{
	struct at_due_item it = q->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!before(&it, &q->heap[p]))
			break;
		place(q, i, q->heap[p]);
		i = p;
	}
	place(q, i, it);
}

static void down(struct at_due_queue *q, size_t i)
{
	struct at_due_item it = q->heap[i];
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const struct at_due_item *best = &it;
		if (l < q->n && before(&q->heap[l], best))
			m = l, best = &q->heap[l];
		if (l + 1 < q->n && before(&q->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		place(q, i, q->heap[m]);
		i = m;
	}
	place(q, i, it);
}

static void remove_at(struct at_due_queue *q, size_t i)
{
	q->pos[q->heap[i].id] = 0;
	if (--q->n == i)
		return;
	struct at_due_item last = q->heap[q->n];
	place(q, i, last);
	if (i > 0 && before(&last, &q->heap[(i - 1) / 2]))
		up(q, i);
	else
		down(q, i);
}

/* pos[] with room for ids below np. */
static int grow_pos(struct at_due_queue *q, size_t np)
{
	if (np <= q->npos)
		return 0;
	uint32_t *nv = realloc(q->pos, np * sizeof(*nv));
	if (nv == NULL)
		return AT_E_NOMEM;
	memset(nv + q->npos, 0, (np - q->npos) * sizeof(*nv));
	q->pos = nv;
	q->npos = np;
	return 0;
}

static int grow_heap(struct at_due_queue *q, size_t nc)
{
	if (nc <= q->cap)
		return 0;
	struct at_due_item *nh = realloc(q->heap, nc * sizeof(*nh));
	if (nh == NULL)
		return AT_E_NOMEM;
	q->heap = nh;
	q->cap = nc;
	return 0;
}

int at_due_reserve(struct at_due_queue *q, size_t n)
{
	if (n > UINT32_MAX)
		return AT_E_RANGE;
	/* n ids at most are scheduled at once, so a heap of n never grows in at_due_set. */
	int rc = grow_pos(q, n);
	return rc != 0 ? rc : grow_heap(q, n);
}

int at_due_set(struct at_due_queue *q, uint32_t id, time_t due)
{
	if (id == UINT32_MAX)
		return AT_E_RANGE;
	if ((size_t)id >= q->npos) {
		size_t np = q->npos ? q->npos : 64;
		while (np <= (size_t)id)
			np *= 2;
		if (grow_pos(q, np) != 0)
			return AT_E_NOMEM;
	}
	struct at_due_item it = { .due = due, .id = id, .seq = q->seq++ };
	if (q->pos[id] != 0) {
		size_t i = q->pos[id] - 1;
		int earlier = before(&it, &q->heap[i]);
		q->heap[i] = it;
		if (earlier)
			up(q, i);
		else
			down(q, i);
		return 0;
	}
	if (q->n == q->cap && grow_heap(q, q->cap ? q->cap * 2 : 64) != 0)
		return AT_E_NOMEM;
	place(q, q->n++, it);
	up(q, q->n - 1);
	return 0;
}

void at_due_remove(struct at_due_queue *q, uint32_t id)
{
	if ((size_t)id < q->npos && q->pos[id] != 0)
		remove_at(q, q->pos[id] - 1);
}

int at_due_when(const struct at_due_queue *q, uint32_t id, time_t *due)
{
	if ((size_t)id >= q->npos || q->pos[id] == 0)
		return 0;
	if (due != NULL)
		*due = q->heap[q->pos[id] - 1].due;
	return 1;
}

int at_due_next(const struct at_due_queue *q, time_t *due)
{
	if (q->n == 0)
		return AT_E_NOTFOUND;
	*due = q->heap[0].due;
	return 0;
}

size_t at_due_take(struct at_due_queue *q, time_t now, uint32_t *out, size_t max)
{
	size_t k = 0;
	while (k < max && q->n > 0 && q->heap[0].due <= now) {
		out[k++] = q->heap[0].id;
		remove_at(q, 0);
	}
	return k;
}

size_t at_due_count(const struct at_due_queue *q)
{
	return q->n;
}

void at_due_clear(struct at_due_queue *q)
{
	free(q->heap);
	free(q->pos);
	memset(q, 0, sizeof(*q));
}
