/*
 * The file backend of struct at_store_ops: one file per key below a root folder, reached only through openat()
 * with O_NOFOLLOW from a descriptor of the root taken at open, so no key and no link planted inside the store
 * can reach outside it. Names starting with '.' are the backend's own (".tmp-*" temporaries of unfinished
 * writes, ".locks/"); keys cannot name them (store/key.c) and list() never shows them. Writes go through
 * at_fio_write (temp file, fsync, rename, fsync of the folder). Locks are store/lock_file.c.
 */
#include "store/fileio.h"
#include "store/keypath.h"
#include "store/lock_file.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALUE_MAX (1024 * 1024)
#define TMP_MAX_AGE_S 3600
/* Entries one listing returns at most: a bound on what a corrupt or hostile folder can make us allocate, far
 * above any store we serve (a 100,000-name on-demand store lists 100,001 folders; 100,000 used to be the
 * bound, and the doubling stopped at 65,536, so such a store listed nothing: its names were never loaded). */
#define LIST_MAX (1u << 22)

struct store_file {
	struct at_store base; /* first: at_store pointers are store_file pointers */
	int root;             /* owned: the root folder */
	struct at_lockset locks; /* dirfd -1 for a reader that may not write the store: locks are refused */
	gid_t share_gid;      /* (gid_t)-1, or the group that may read certificates/ (AUTOTLS_STORAGE_GROUP) */
};

#define SHARED_PREFIX "certificates/"

/* The group a key is shared with: only live certificate records, never accounts, staging or locks. */
static gid_t share_gid_for(const struct store_file *f, const char *key)
{
	if (f->share_gid == (gid_t)-1 || strncmp(key, SHARED_PREFIX, sizeof(SHARED_PREFIX) - 1) != 0)
		return (gid_t)-1;
	return f->share_gid;
}

static struct store_file *sf(struct at_store *s)
{
	return (struct store_file *)s;
}

/* Opens the folder that holds key's last component; *leaf points into key. */
static int open_parent(struct store_file *f, const char *key, int create, int *dirfd, const char **leaf)
{
	const char *slash = strrchr(key, '/');
	size_t len = slash ? (size_t)(slash - key) : 0;
	int rc = at_fio_open_dir_shared(dirfd, f->root, key, len, create, share_gid_for(f, key));

	if (rc == 0)
		*leaf = slash ? slash + 1 : key;
	return rc;
}

static int file_load(struct at_store *s, const char *key, char **val, size_t *len)
{
	const char *leaf = NULL;
	int dirfd = -1;
	int rc = at_store_key_check(key, 0);

	if (rc != 0)
		return rc;
	if (val == NULL || len == NULL)
		return AT_E_INVAL;
	rc = open_parent(sf(s), key, 0, &dirfd, &leaf);
	if (rc != 0)
		return rc;
	rc = at_fio_read(dirfd, leaf, VALUE_MAX, val, len);
	if (rc == AT_E_STORE)
		at_log_warn("store: %s is not a regular file; refusing it", key);
	close(dirfd);
	return rc;
}

static int file_store(struct at_store *s, const char *key, const void *val, size_t len)
{
	const char *leaf = NULL;
	int dirfd = -1;
	int rc = at_store_key_check(key, 0);

	if (rc != 0)
		return rc;
	if (val == NULL && len > 0)
		return AT_E_INVAL;
	if (len > VALUE_MAX)
		return AT_E_TOOBIG;
	rc = open_parent(sf(s), key, 1, &dirfd, &leaf);
	if (rc != 0)
		return rc;
	rc = at_fio_write_shared(dirfd, leaf, val ? val : "", len, share_gid_for(sf(s), key));
	close(dirfd);
	return rc;
}

static int file_del(struct at_store *s, const char *key)
{
	const char *leaf = NULL;
	char path[AT_STORE_KEY_MAX + 1];
	int dirfd = -1, rc;
	size_t n;

	if (key == NULL || key[0] == '\0')
		return AT_E_BADNAME; /* deleting the whole store is not something a caller does by accident */
	n = strlen(key);
	rc = at_store_key_check(key, key[n - 1] == '/');
	if (rc != 0)
		return rc;
	memcpy(path, key, n + 1);
	if (path[n - 1] == '/')
		path[n - 1] = '\0';
	rc = open_parent(sf(s), path, 0, &dirfd, &leaf);
	if (rc == AT_E_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (key[n - 1] == '/') {
		rc = at_fio_remove(dirfd, leaf);
	} else {
		struct stat st;
		if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
			rc = AT_E_INVAL; /* a prefix without its '/' */
		else if (unlinkat(dirfd, leaf, 0) != 0 && errno != ENOENT)
			rc = at_fio_err(errno);
		else if (fsync(dirfd) != 0)
			rc = at_fio_err(errno);
	}
	close(dirfd);
	return rc;
}

/* Temporaries an interrupted write left, swept at most once an hour per store (the mtime of SWEPT_MARK, in the
 * lock folder beside the locks: no key, no record): a sweep walks every folder, seconds for 100,000 names, and
 * every process of a tree opens the store at start, the manager on the way to its first certificate. A reader
 * (no write access) sweeps nothing it could not remove anyway. */
#define SWEPT_MARK ".locks/swept"
static void sweep_if_due(int root)
{
	struct stat st;
	if (fstatat(root, SWEPT_MARK, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
	    st.st_mtime > time(NULL) - TMP_MAX_AGE_S && st.st_mtime <= time(NULL) + 60)
		return;
	at_fio_sweep(root, TMP_MAX_AGE_S);
	int fd = openat(root, SWEPT_MARK, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
}

static int file_list(struct at_store *s, const char *prefix, char ***keys, size_t *n)
{
	char **out = NULL;
	size_t cnt = 0, cap = 0, plen;
	DIR *d = NULL;
	int dirfd = -1;
	int rc = at_store_key_check(prefix, 1);

	if (rc != 0)
		return rc;
	if (keys == NULL || n == NULL)
		return AT_E_INVAL;
	plen = strlen(prefix);
	rc = at_fio_open_dir(&dirfd, sf(s)->root, prefix, plen ? plen - 1 : 0, 0);
	if (rc == AT_E_NOTFOUND) {
		*keys = NULL;
		*n = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	d = fdopendir(dirfd);
	if (d == NULL) {
		rc = at_fio_err(errno);
		close(dirfd);
		return rc;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		struct stat st;
		size_t nl = strlen(de->d_name);
		/* dot-names are ours (temporaries, locks); anything else a key could not name is not shown either */
		if (!at_store_component_ok(de->d_name, nl))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		if (cnt == cap) {
			if (cap >= LIST_MAX) {
				rc = AT_E_TOOBIG;
				goto out;
			}
			size_t ncap = cap ? (cap * 2 > LIST_MAX ? LIST_MAX : cap * 2) : 16;
			char **grown = realloc(out, ncap * sizeof *grown);
			if (grown == NULL) {
				rc = AT_E_NOMEM;
				goto out;
			}
			out = grown;
			cap = ncap;
		}
		char *k = at_store_list_entry(prefix, plen, de->d_name, nl, S_ISDIR(st.st_mode));
		if (k == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
		out[cnt++] = k;
	}
	at_store_list_hand_over(&out, &cnt, keys, n);
	rc = 0;
out:
	at_store_list_free(out, cnt);
	closedir(d);
	return rc;
}

static int file_stat(struct at_store *s, const char *key, struct at_store_stat *st)
{
	const char *leaf = NULL;
	struct stat sb;
	int dirfd = -1;
	int rc = at_store_key_check(key, 0);

	if (rc != 0)
		return rc;
	if (st == NULL)
		return AT_E_INVAL;
	rc = open_parent(sf(s), key, 0, &dirfd, &leaf);
	if (rc != 0)
		return rc;
	if (fstatat(dirfd, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		rc = at_fio_err(errno);
	else if (!S_ISREG(sb.st_mode))
		rc = AT_E_NOTFOUND;
	close(dirfd);
	if (rc != 0)
		return rc;
	st->modified = sb.st_mtime;
	st->size = (size_t)sb.st_size;
	return 0;
}

static int file_lock(struct at_store *s, const char *name, int lease_s, int wait_ms)
{
	if (sf(s)->locks.dirfd < 0)
		return AT_E_PERM;
	return at_lockset_lock(&sf(s)->locks, name, lease_s, wait_ms);
}

static int file_lock_refresh(struct at_store *s, const char *name, int lease_s)
{
	if (sf(s)->locks.dirfd < 0)
		return AT_E_PERM;
	return at_lockset_refresh(&sf(s)->locks, name, lease_s);
}

static int file_unlock(struct at_store *s, const char *name)
{
	if (sf(s)->locks.dirfd < 0)
		return AT_E_PERM;
	return at_lockset_unlock(&sf(s)->locks, name);
}

/* Releases the locks this object still holds. */
static void file_close(struct at_store *s)
{
	struct store_file *f = sf(s);

	at_lockset_fini(&f->locks);
	if (f->root >= 0)
		close(f->root);
	free(f);
}

static const struct at_store_ops file_ops = {
	.load = file_load,
	.store = file_store,
	.del = file_del,
	.list = file_list,
	.stat = file_stat,
	.lock = file_lock,
	.lock_refresh = file_lock_refresh,
	.unlock = file_unlock,
	.close = file_close,
};

/* mkdir -p with 0700 for the folders it makes; existing folders (and links the administrator chose for the
 * root itself) are left as they are. */
static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof buf)
		return AT_E_INVAL;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return at_fio_err(errno);
		buf[i] = c;
	}
	return 0;
}

int at_store_open_file(struct at_store **out, const char *path)
{
	return at_store_open_file_shared(out, path, (gid_t)-1);
}

int at_store_open_file_shared(struct at_store **out, const char *path, gid_t share_gid)
{
	struct store_file *f = NULL;
	char *def = NULL;
	struct stat st;
	int rc;

	if (out == NULL)
		return AT_E_INVAL;
	if (path == NULL) {
		rc = at_store_default_path(&def);
		if (rc != 0)
			return rc;
		path = def;
	}
	f = calloc(1, sizeof *f);
	if (f == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	f->base.ops = &file_ops;
	f->root = -1;
	f->locks.dirfd = -1;
	f->share_gid = share_gid;
	rc = mkdir_p(path);
	if (rc != 0)
		goto out;
	f->root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->root < 0) {
		rc = at_fio_err(errno);
		goto out;
	}
	if (share_gid != (gid_t)-1 && at_fio_share_root(f->root, share_gid) != 0)
		at_log_warn("store: cannot share %s with group %d", path, (int)share_gid);
	/* Others may never get in; the group only when the owner shares on purpose (readers do not own it). */
	if (fstat(f->root, &st) == 0 &&
	    (st.st_mode & (share_gid != (gid_t)-1 || st.st_uid != geteuid() ? 007 : 077)) != 0)
		at_log_warn("store: %s is accessible to other users (mode %03o); keys are kept there",
			    path, (unsigned)(st.st_mode & 0777));
	rc = at_lockset_init(&f->locks, f->root);
	if (rc == AT_E_PERM && faccessat(f->root, ".", W_OK, AT_EACCESS) != 0) {
		/* A reader (a service in the store's group): it may load certificates, never lock or write. */
		f->locks.dirfd = -1;
		rc = 0;
	}
	if (rc != 0)
		goto out;
	sweep_if_due(f->root);
	*out = &f->base;
	f = NULL;
	rc = 0;
out:
	if (f != NULL) {
		if (f->root >= 0)
			close(f->root);
		free(f);
	}
	free(def);
	return rc;
}
