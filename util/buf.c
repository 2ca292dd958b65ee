#include "util/buf.h"
#include "util/err.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void at_buf_init(struct at_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

int at_buf_append(struct at_buf *b, const void *p, size_t n)
{
	if (n > b->max || b->len > b->max - n)
		return AT_E_TOOBIG;
	if (b->len + n + 1 > b->alloc) {
		size_t want = b->alloc ? b->alloc : 256;
		while (want < b->len + n + 1)
			want *= 2;
		if (want > b->max + 1)
			want = b->max + 1;
		char *d = realloc(b->data, want);
		if (d == NULL)
			return AT_E_NOMEM;
		b->data = d;
		b->alloc = want;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int at_buf_append_str(struct at_buf *b, const char *s)
{
	return at_buf_append(b, s, strlen(s));
}

char *at_buf_steal(struct at_buf *b)
{
	char *d = b->data;
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	return d;
}

void at_buf_free(struct at_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
}

void at_buf_free_secret(struct at_buf *b)
{
	if (b->data)
		OPENSSL_cleanse(b->data, b->alloc);
	at_buf_free(b);
}
