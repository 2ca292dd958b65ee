/*
 * An index by name over a caller's array of named entries (name_index.c): open addressing with linear probing,
 * FNV-1a (util/fnv.h), each slot the entry's position + 1 (0 empty, AT_NAME_INDEX_GONE a name taken out), so
 * that finding a name does not grow with how many there are (the manager's on-demand names and OCSP staples:
 * 100,000 of them, each found once at start). The array stays the caller's; the index only asks it for the name
 * at a position. Taken-out marks count as filled until the next rebuild, which the caller asks for when
 * at_name_index_full says so. No lock: the caller's, the one that guards its array.
 */
#ifndef AUTOTLS_UTIL_NAME_INDEX_H
#define AUTOTLS_UTIL_NAME_INDEX_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define AT_NAME_INDEX_GONE UINT32_MAX

struct at_name_index {
	uint32_t *slot; /* owned: position + 1, 0 empty, AT_NAME_INDEX_GONE a name taken out; NULL before a rebuild */
	size_t mask;    /* slots - 1 (a power of two) */
	size_t fill;    /* slots not empty, taken-out marks too */
};

/* The name of the caller's entry at pos; NULL: no entry there (it matches no name; a rebuild leaves it out). */
typedef const char *(*at_name_index_name_fn)(const void *arg, size_t pos);

/* Whether one more name needs a rebuild first (no slots yet, or more than half would be filled). */
static inline int at_name_index_full(const struct at_name_index *ix)
{
	return ix->slot == NULL || ix->fill + 1 > ix->mask / 2;
}

/* The slot of name, *found 1; or, *found 0, the slot to put it in (the first taken-out mark on its probe, else
 * the empty slot that ends it). The index must have slots (a rebuild first). */
size_t at_name_index_find(const struct at_name_index *ix, const char *name, at_name_index_name_fn name_at,
			  const void *arg, int *found);

/* The position slot k (one at_name_index_find found) holds. */
static inline size_t at_name_index_pos(const struct at_name_index *ix, size_t k)
{
	return (size_t)ix->slot[k] - 1;
}

/* Makes slot k (from at_name_index_find) hold pos. */
static inline void at_name_index_put(struct at_name_index *ix, size_t k, size_t pos)
{
	if (ix->slot[k] == 0)
		ix->fill++;
	ix->slot[k] = (uint32_t)pos + 1;
}

/* Takes name out, when it is in. */
void at_name_index_forget(struct at_name_index *ix, const char *name, at_name_index_name_fn name_at,
			  const void *arg);

/* New slots for want names at least (1,024 at least, twice want rounded up to a power of two), filled with the
 * entries at positions [0, n) that name_at names; taken-out marks are gone then. 0 or AT_E_NOMEM (the index as
 * it was). */
int at_name_index_rebuild(struct at_name_index *ix, size_t want, size_t n, at_name_index_name_fn name_at,
			  const void *arg) AT_MUST_CHECK;

#endif
