/* See store_modes.h. */
#include "tests/harness/store_modes.h"
#include "tests/harness/pebble.h" /* harness_read_file */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct {
	const char *store;
	uid_t uid;
	gid_t group;
	struct store_modes *out;
} walk;

static int entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = path + strlen(walk.store);
	unsigned mode = (unsigned)(st->st_mode & 07777);

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	char *text = harness_read_file(path, NULL);
	int key = text != NULL && strstr(text, "PRIVATE KEY") != NULL;
	free(text);
	if (!key)
		return 0;
	walk.out->key_files++;
	int record = strncmp(rel, "/certificates/", 14) == 0;
	walk.out->cert_records += record;
	walk.out->acct_keys += strncmp(rel, "/accounts/", 10) == 0;
	int grouped = record && walk.group != (gid_t)-1;
	unsigned want = grouped ? 0640 : 0600;
	if (mode != want || (grouped && st->st_gid != walk.group) || (walk.uid != (uid_t)-1 && st->st_uid != walk.uid)) {
		fprintf(stderr, "  store: %s holds a key and is %04o uid %u gid %u (want %04o)\n", path, mode,
			(unsigned)st->st_uid, (unsigned)st->st_gid, want);
		walk.out->bad++;
	}
	return 0;
}

int store_modes_check(const char *store, uid_t uid, gid_t group, struct store_modes *out)
{
	memset(out, 0, sizeof(*out));
	walk.store = store;
	walk.uid = uid;
	walk.group = group;
	walk.out = out;
	return nftw(store, entry, 16, FTW_PHYS) == 0 ? 0 : -1;
}
