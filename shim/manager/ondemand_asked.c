/*
 * When each on-demand name was last asked for, kept in the store (key ONDEMAND_ASKED_KEY: one line a name, "<unix
 * time> <name>"), so that a restarted manager does not count every name as asked at its start
 * (shim/ondemand_idle.h). Called only from the on-demand thread (shim/manager/ondemand.c): it reads the key at start
 * and before each save (several trees may share a store: a save keeps the later time of each name, theirs or
 * ours), and saves at most once every ondemand_touch_s, only when a time changed. Owns no thread and no lock; the
 * store's write is atomic (temp file and rename). Never on a server's thread.
 */
#include "shim/manager/ondemand_asked.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_NAME 253

int od_asked_load(struct at_store *st, void (*fn)(void *ctx, const char *name, time_t at), void *ctx)
{
	char *val = NULL;
	size_t len = 0;
	int rc = st->ops->load(st, ONDEMAND_ASKED_KEY, &val, &len);
	if (rc == AT_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	/* Lines another process wrote: each one judged alone, a bad one skipped. */
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && val[end] != '\n')
			end++;
		char line[32 + LINE_MAX_NAME + 2];
		size_t n = end - i;
		if (n > 0 && n < sizeof(line)) {
			memcpy(line, val + i, n);
			line[n] = '\0';
			char *sp = strchr(line, ' '), *stop = NULL;
			long long at = strtoll(line, &stop, 10);
			if (sp != NULL && stop == sp && at > 0 && sp[1] != '\0' && strlen(sp + 1) <= LINE_MAX_NAME &&
			    strchr(sp + 1, ' ') == NULL)
				fn(ctx, sp + 1, (time_t)at);
		}
		i = end + 1;
	}
	free(val);
	return 0;
}

int od_asked_save(struct at_store *st, const char *const *names, const time_t *at, size_t n)
{
	size_t cap = 64 + n * (24 + LINE_MAX_NAME + 2), len = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return AT_E_NOMEM;
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + len, cap - len, "%lld %.*s\n", (long long)at[i], LINE_MAX_NAME, names[i]);
		if (w < 0 || (size_t)w >= cap - len) {
			free(buf);
			return AT_E_NOMEM;
		}
		len += (size_t)w;
	}
	int rc = st->ops->store(st, ONDEMAND_ASKED_KEY, buf, len);
	free(buf);
	return rc;
}
