/*
 * When each on-demand name was last asked for, kept in the store (key ONDEMAND_ASKED_KEY: one line a name, "<unix
 * time> <name>"), so that a restarted manager does not count every name as asked at its start
 * (shim/ondemand_idle.h). Called only from the on-demand thread (shim/manager/ondemand.c): it reads the key at start
 * and before each save (several trees may share a store: a save keeps the later time of each name, theirs or
 * ours), and saves at most once every ondemand_touch_s, only when a time changed. Owns no thread and no lock; the
 * store's write is atomic (temp file and rename). Never on a server's thread.
 */
#include "shim/manager/ondemand_asked.h"
#include "store/name.h"
#include "util/buf.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASKED_LINE_MAX (24 + AT_NAME_MAX + 2) /* "<time> <name>\n" at the longest */

int od_asked_load(struct at_store *st, void (*fn)(void *ctx, const char *name, time_t at), void *ctx)
{
	char *val = NULL;
	size_t len = 0;
	int rc = at_store_load(st, ONDEMAND_ASKED_KEY, &val, &len);
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
		char line[32 + AT_NAME_MAX + 2];
		size_t n = end - i;
		if (n > 0 && n < sizeof(line)) {
			memcpy(line, val + i, n);
			line[n] = '\0';
			char *sp = strchr(line, ' '), *stop = NULL;
			long long at = strtoll(line, &stop, 10);
			if (sp != NULL && stop == sp && at > 0 && sp[1] != '\0' && strlen(sp + 1) <= AT_NAME_MAX &&
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
	/* Grown as the lines come (some 30 bytes a name), not reserved for the longest name n times (28 MB at
	 * 100,000 names); that longest is the cap. */
	struct at_buf b;
	at_buf_init(&b, 64 + n * ASKED_LINE_MAX);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char line[ASKED_LINE_MAX + 1];
		int w = snprintf(line, sizeof(line), "%lld %.*s\n", (long long)at[i], AT_NAME_MAX, names[i]);
		rc = w < 0 || (size_t)w >= sizeof(line) ? AT_E_NOMEM : at_buf_append(&b, line, (size_t)w);
	}
	if (rc == 0)
		rc = at_store_put(st, ONDEMAND_ASKED_KEY, b.data != NULL ? b.data : "", b.len);
	at_buf_free(&b);
	return rc;
}
