/* See id_slots.h. */
#include "util/id_slots.h"

#include <stdlib.h>

int at_id_slots_reserve(struct at_id_slots *s, size_t want)
{
	if (want <= s->n)
		return 0;
	if (want > (size_t)UINT32_MAX)
		return AT_E_RANGE;
	size_t cap = s->n ? s->n : 64;
	while (cap < want)
		cap *= 2;
	void **na = realloc(s->at, cap * sizeof(*na));
	if (na == NULL)
		return AT_E_NOMEM;
	s->at = na;
	uint32_t *nf = realloc(s->free_ids, cap * sizeof(*nf));
	if (nf == NULL)
		return AT_E_NOMEM;
	s->free_ids = nf;
	/* pushed highest first, so the lowest new id is taken first */
	for (size_t i = cap; i > s->n; i--)
		s->free_ids[s->nfree++] = (uint32_t)(i - 1);
	for (size_t i = s->n; i < cap; i++)
		s->at[i] = NULL;
	s->n = cap;
	return 0;
}

uint32_t at_id_slots_take_reserved(struct at_id_slots *s, void *p)
{
	uint32_t id = s->free_ids[--s->nfree];
	s->at[id] = p;
	return id;
}

int at_id_slots_take(struct at_id_slots *s, void *p, uint32_t *id)
{
	int rc = s->nfree == 0 ? at_id_slots_reserve(s, s->n + 1) : 0;
	if (rc != 0)
		return rc;
	*id = at_id_slots_take_reserved(s, p);
	return 0;
}

void at_id_slots_put(struct at_id_slots *s, uint32_t id)
{
	s->at[id] = NULL;
	s->free_ids[s->nfree++] = id;
}

size_t at_id_slots_used(const struct at_id_slots *s)
{
	return s->n - s->nfree;
}

void at_id_slots_free(struct at_id_slots *s)
{
	free(s->at);
	free(s->free_ids);
	*s = (struct at_id_slots){ 0 };
}
