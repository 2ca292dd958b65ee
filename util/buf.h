/*
 * A growable byte buffer with a hard cap (STYLE.md: every buffer filled from the network has a cap; over the cap
 * is a clean error, never an unbounded realloc). The data is always NUL-terminated for convenience.
 */
#ifndef AUTOTLS_UTIL_BUF_H
#define AUTOTLS_UTIL_BUF_H

#include "util/err.h"

#include <stddef.h>

struct at_buf {
	char *data;   /* owned; NULL until the first append */
	size_t len;
	size_t alloc;
	size_t max;   /* appends that would pass this fail with AT_E_TOOBIG */
};

void at_buf_init(struct at_buf *b, size_t max);

/* Appends n bytes. Returns 0, AT_E_TOOBIG or AT_E_NOMEM; on error b is unchanged. */
int at_buf_append(struct at_buf *b, const void *p, size_t n) AT_MUST_CHECK;
int at_buf_append_str(struct at_buf *b, const char *s) AT_MUST_CHECK;

/* Hands the data over to the caller (free() it) and leaves b empty. Returns NULL when nothing was appended. */
char *at_buf_steal(struct at_buf *b);

/* Frees the data. Safe to call twice. */
void at_buf_free(struct at_buf *b);

/* Like at_buf_free, but cleanses the bytes first (for buffers that held secrets). */
void at_buf_free_secret(struct at_buf *b);

#endif
