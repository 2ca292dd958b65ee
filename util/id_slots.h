/*
 * Small stable ids for objects kept in a table by id (a due_queue's ids, a name index's positions): a table of
 * pointers and a free list of the ids to reuse, both grown by doubling from 64, so that every id can be free at
 * once and giving one back never allocates. Not locked: the caller's lock covers it.
 */
#ifndef AUTOTLS_UTIL_ID_SLOTS_H
#define AUTOTLS_UTIL_ID_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct at_id_slots {
	void **at;          /* owned: by id, the object's pointer (borrowed); NULL: a free id */
	size_t n;           /* ids handed out so far: the room in at and free_ids */
	uint32_t *free_ids; /* owned: ids to reuse, the lowest taken first */
	size_t nfree;
};

/* Room for want ids at once: 0, AT_E_NOMEM, or AT_E_RANGE for more than UINT32_MAX (as at_due_reserve). */
AT_MUST_CHECK int at_id_slots_reserve(struct at_id_slots *s, size_t want);
/* A free id for p, growing the table when none is free: 0 with *id, or what at_id_slots_reserve returns. */
AT_MUST_CHECK int at_id_slots_take(struct at_id_slots *s, void *p, uint32_t *id);
/* A free id for p from room reserved before (at_id_slots_reserve): it cannot fail. */
uint32_t at_id_slots_take_reserved(struct at_id_slots *s, void *p);
/* id back: at[id] is NULL again. Never allocates. */
void at_id_slots_put(struct at_id_slots *s, uint32_t id);
/* Ids in use. */
size_t at_id_slots_used(const struct at_id_slots *s);
void at_id_slots_free(struct at_id_slots *s);

#endif
