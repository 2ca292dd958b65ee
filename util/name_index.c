/*
 * The index by name (name_index.h): linear probing over a power-of-two table of positions + 1.
 */
#include "util/name_index.h"
#include "util/fnv.h"

#include <stdlib.h>
#include <string.h>

size_t at_name_index_find(const struct at_name_index *ix, const char *name, at_name_index_name_fn name_at,
			  const void *arg, int *found)
{
	size_t k = at_fnv1a32(AT_FNV32_BASIS, name) & ix->mask, ins = SIZE_MAX;
	for (; ix->slot[k] != 0; k = (k + 1) & ix->mask) {
		if (ix->slot[k] == AT_NAME_INDEX_GONE) {
			if (ins == SIZE_MAX)
				ins = k;
		} else {
			const char *at = name_at(arg, ix->slot[k] - 1);
			if (at == NULL || strcmp(at, name) != 0)
				continue;
			*found = 1;
			return k;
		}
	}
	*found = 0;
	return ins != SIZE_MAX ? ins : k;
}

void at_name_index_forget(struct at_name_index *ix, const char *name, at_name_index_name_fn name_at,
			  const void *arg)
{
	int found;
	size_t k = at_name_index_find(ix, name, name_at, arg, &found);
	if (found)
		ix->slot[k] = AT_NAME_INDEX_GONE;
}

int at_name_index_rebuild(struct at_name_index *ix, size_t want, size_t n, at_name_index_name_fn name_at,
			  const void *arg)
{
	size_t slots = 1024;
	while (slots < 2 * want)
		slots *= 2;
	uint32_t *nv = calloc(slots, sizeof(*nv));
	if (nv == NULL)
		return AT_E_NOMEM;
	free(ix->slot);
	ix->slot = nv;
	ix->mask = slots - 1;
	ix->fill = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = name_at(arg, i);
		if (name == NULL)
			continue;
		int found;
		size_t k = at_name_index_find(ix, name, name_at, arg, &found);
		ix->slot[k] = (uint32_t)i + 1;
		ix->fill++;
	}
	return 0;
}
