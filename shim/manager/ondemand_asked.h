/* When each on-demand name was last asked for, in the store (ondemand_asked.c; shim/ondemand_idle.h). */
#ifndef AUTOTLS_SHIM_MANAGER_ONDEMAND_ASKED_H
#define AUTOTLS_SHIM_MANAGER_ONDEMAND_ASKED_H

#include "store/store.h"
#include "util/err.h"

#include <stddef.h>
#include <time.h>

#define ONDEMAND_ASKED_KEY "ondemand/asked"

/* Calls fn for every well-formed line of the stored key (none when it is absent). 0, or the store's error. */
int od_asked_load(struct at_store *st, void (*fn)(void *ctx, const char *name, time_t at), void *ctx) AT_MUST_CHECK;

/* Replaces the stored key with names[i] asked for at at[i] (borrowed). 0, or AT_E_NOMEM or the store's error. */
int od_asked_save(struct at_store *st, const char *const *names, const time_t *at, size_t n) AT_MUST_CHECK;

#endif
