/* store/store_file.c, fileio.c, key.c and the single-process side of lock_file.c. */
#include "store/store.h"
#include "util/err.h"
#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char base[64];    /* /tmp/at-store-XXXXXX */
static char rootp[128];  /* base/store */
static char outside[128]; /* base/outside */

static void vfree(char *p, size_t n)
{
	if (p)
		OPENSSL_cleanse(p, n);
	free(p);
}

static void rm_rf(const char *path)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "  rm -rf %s failed\n", path);
}

/* Number of entries (recursively) below path: "nothing was written outside" is this staying the same. */
static int count_tree(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	if (d == NULL)
		return -1;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		char sub[1024];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			n += count_tree(sub);
	}
	closedir(d);
	return n;
}

static void setup(void)
{
	snprintf(base, sizeof base, "/tmp/at-store-XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(rootp, sizeof rootp, "%s/store", base);
	snprintf(outside, sizeof outside, "%s/outside", base);
	mkdir(outside, 0755);
	umask(022);
}

static void test_put_load_stat(void)
{
	struct at_store *s = NULL;
	struct at_store_stat st;
	char *v = NULL;
	size_t n = 0;

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	CHECK_INT(at_store_load(s, "a/b/c", &v, &n), ==, AT_E_NOTFOUND);
	CHECK_INT(at_store_stat(s, "a/b/c", &st), ==, AT_E_NOTFOUND);
	CHECK_OK(at_store_put(s, "a/b/c", "hello", 5));
	CHECK_OK(at_store_load(s, "a/b/c", &v, &n));
	CHECK_INT(n, ==, 5);
	CHECK(v && memcmp(v, "hello", 5) == 0 && v[5] == '\0');
	vfree(v, n);
	CHECK_OK(at_store_put(s, "a/b/c", "bye", 3));
	CHECK_OK(at_store_load(s, "a/b/c", &v, &n));
	CHECK(n == 3 && memcmp(v, "bye", 3) == 0);
	vfree(v, n);
	CHECK_OK(at_store_stat(s, "a/b/c", &st));
	CHECK_INT(st.size, ==, 3);
	CHECK(st.modified > time(NULL) - 60);
	CHECK_INT(at_store_stat(s, "a/b", &st), ==, AT_E_NOTFOUND); /* a folder is no value */
	CHECK_OK(at_store_put(s, "empty", "", 0));
	CHECK_OK(at_store_load(s, "empty", &v, &n));
	CHECK_INT(n, ==, 0);
	vfree(v, n);
	at_store_close(s);
}

static void test_permissions(void)
{
	struct at_store *s = NULL;
	struct stat st;
	char p[512];

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	CHECK_OK(at_store_put(s, "perm/x/y/secret", "k", 1));
	CHECK(stat(rootp, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(p, sizeof p, "%s/perm", rootp);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(p, sizeof p, "%s/perm/x/y", rootp);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(p, sizeof p, "%s/perm/x/y/secret", rootp);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600 && S_ISREG(st.st_mode));
	snprintf(p, sizeof p, "%s/.locks", rootp);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);
	/* even with a permissive umask */
	mode_t old = umask(0);
	CHECK_OK(at_store_put(s, "perm/z/secret", "k", 1));
	umask(old);
	snprintf(p, sizeof p, "%s/perm/z", rootp);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(p, sizeof p, "%s/perm/z/secret", rootp);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	at_store_close(s);
}

static void test_list_del(void)
{
	struct at_store *s = NULL;
	char **keys = NULL;
	size_t n = 0;
	char p[512];
	int fd;

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	CHECK_OK(at_store_put(s, "l/b", "1", 1));
	CHECK_OK(at_store_put(s, "l/a", "1", 1));
	CHECK_OK(at_store_put(s, "l/sub/c", "1", 1));
	/* an unfinished write, a stray dot file and a link: none is a key */
	snprintf(p, sizeof p, "%s/l/.tmp-123", rootp);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	snprintf(p, sizeof p, "%s/l/link", rootp);
	CHECK(symlink("/etc/passwd", p) == 0);
	CHECK_OK(at_store_list(s, "l/", &keys, &n));
	CHECK_INT(n, ==, 3);
	if (n == 3) {
		CHECK_STR(keys[0], "l/a");
		CHECK_STR(keys[1], "l/b");
		CHECK_STR(keys[2], "l/sub/");
	}
	at_store_list_free(keys, n);
	/* the root: no ".locks" */
	CHECK_OK(at_store_list(s, "", &keys, &n));
	for (size_t i = 0; i < n; i++)
		CHECK(keys[i][0] != '.');
	at_store_list_free(keys, n);
	CHECK_OK(at_store_list(s, "nothing/here/", &keys, &n));
	CHECK_INT(n, ==, 0);
	at_store_list_free(keys, n);
	CHECK_INT(at_store_list(s, "l", &keys, &n), ==, AT_E_BADNAME);

	CHECK_OK(at_store_del(s, "l/a"));
	CHECK_OK(at_store_del(s, "l/a")); /* absent is fine */
	CHECK_INT(at_store_del(s, "l/sub"), ==, AT_E_INVAL);
	CHECK_OK(at_store_del(s, "l/sub/"));
	CHECK_OK(at_store_list(s, "l/", &keys, &n));
	CHECK_INT(n, ==, 1);
	at_store_list_free(keys, n);
	CHECK_OK(at_store_del(s, "l/"));
	snprintf(p, sizeof p, "%s/l", rootp);
	CHECK(access(p, F_OK) != 0);
	CHECK(access("/etc/passwd", F_OK) == 0); /* the link went, not its target */
	CHECK_INT(at_store_del(s, ""), ==, AT_E_BADNAME);
	at_store_close(s);
}

static void test_bad_keys(void)
{
	static const char *bad[] = { "../x", "a/../b", "/a", "a//b", "a/", "", ".tmp-x", "a/.locks", ".locks/x",
				     "A", "a b", "a\\b", "a\nb", "x/.", "x/..", ".", ".." };
	struct at_store *s = NULL;
	char *v = NULL;
	size_t n = 0;
	char buf[64];
	int before = count_tree(base);

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	before = count_tree(base);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(at_store_put(s, bad[i], "x", 1), ==, AT_E_BADNAME);
		CHECK_INT(at_store_load(s, bad[i], &v, &n), ==, AT_E_BADNAME);
	}
	CHECK_INT(count_tree(base), ==, before);
	CHECK_OK(at_store_key(buf, sizeof buf, "certificates", "ca", "example.com", "record", NULL));
	CHECK_STR(buf, "certificates/ca/example.com/record");
	CHECK_INT(at_store_key(buf, sizeof buf, "certificates", "..", NULL), ==, AT_E_BADNAME);
	CHECK_INT(at_store_key(buf, sizeof buf, "a/b", NULL), ==, AT_E_BADNAME);
	CHECK_INT(at_store_key(buf, sizeof buf, "", NULL), ==, AT_E_BADNAME);
	CHECK_INT(at_store_key(buf, 8, "certificates", NULL), ==, AT_E_RANGE);
	at_store_close(s);
}

static void test_symlinks(void)
{
	struct at_store *s = NULL;
	char p[512], q[512];
	char *v = NULL;
	size_t n = 0;
	int fd;

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	/* a folder link planted in the store */
	snprintf(p, sizeof p, "%s/evil", rootp);
	CHECK(symlink(outside, p) == 0);
	snprintf(q, sizeof q, "%s/target", outside);
	fd = open(q, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0 && write(fd, "outside", 7) == 7);
	close(fd);
	int before = count_tree(outside);
	CHECK(at_store_put(s, "evil/x", "x", 1) != 0);
	CHECK(at_store_put(s, "evil/target", "x", 1) != 0);
	CHECK(at_store_load(s, "evil/target", &v, &n) != 0);
	CHECK(at_store_del(s, "evil/target") != 0);
	CHECK_OK(at_store_del(s, "evil/")); /* removes the link, not what it points at */
	CHECK_INT(count_tree(outside), ==, before);
	CHECK(access(q, F_OK) == 0);
	/* a file link: read refused, write replaces the link inside the store */
	CHECK_OK(at_store_put(s, "f/real", "r", 1));
	snprintf(p, sizeof p, "%s/f/link", rootp);
	CHECK(symlink(q, p) == 0);
	CHECK_INT(at_store_load(s, "f/link", &v, &n), ==, AT_E_STORE);
	CHECK_OK(at_store_put(s, "f/link", "new", 3));
	struct stat st;
	CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
	char got[16] = "";
	fd = open(q, O_RDONLY);
	CHECK(fd >= 0 && read(fd, got, sizeof got) == 7);
	close(fd);
	CHECK(memcmp(got, "outside", 7) == 0);
	CHECK_INT(count_tree(outside), ==, before);
	/* a FIFO must not hang a reader */
	snprintf(p, sizeof p, "%s/f/fifo", rootp);
	CHECK(mkfifo(p, 0600) == 0);
	CHECK_INT(at_store_load(s, "f/fifo", &v, &n), ==, AT_E_STORE);
	at_store_close(s);
}

static void test_caps(void)
{
	struct at_store *s = NULL;
	char *big = malloc(1024 * 1024 + 1);
	char *v = NULL;
	size_t n = 0;
	char p[512];

	REQUIRE(big != NULL);
	memset(big, 'x', 1024 * 1024 + 1);
	if (at_store_open_file(&s, rootp) != 0) {
		free(big);
		REQUIRE(0);
	}
	CHECK_OK(at_store_put(s, "big/ok", big, 1024 * 1024));
	CHECK_OK(at_store_load(s, "big/ok", &v, &n));
	CHECK_INT(n, ==, 1024 * 1024);
	vfree(v, n);
	CHECK_INT(at_store_put(s, "big/no", big, 1024 * 1024 + 1), ==, AT_E_TOOBIG);
	snprintf(p, sizeof p, "%s/big/planted", rootp);
	int fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && write(fd, big, 1024 * 1024 + 1) == 1024 * 1024 + 1);
	close(fd);
	CHECK_INT(at_store_load(s, "big/planted", &v, &n), ==, AT_E_TOOBIG);
	free(big);
	at_store_close(s);
}

static void test_sweep(void)
{
	struct at_store *s = NULL;
	char oldp[512], newp[512];
	struct timespec ts[2];
	int fd;

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	CHECK_OK(at_store_put(s, "sw/x", "1", 1));
	at_store_close(s);
	snprintf(oldp, sizeof oldp, "%s/sw/.tmp-old", rootp);
	snprintf(newp, sizeof newp, "%s/sw/.tmp-new", rootp);
	fd = open(oldp, O_CREAT | O_WRONLY, 0600);
	close(fd);
	fd = open(newp, O_CREAT | O_WRONLY, 0600);
	close(fd);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 7200;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, oldp, ts, 0) == 0);
	/* Swept at most once an hour per store (a sweep walks every folder): the open above swept. */
	REQUIRE(at_store_open_file(&s, rootp) == 0);
	CHECK(access(oldp, F_OK) == 0);
	at_store_close(s);
	char mark[512];
	snprintf(mark, sizeof mark, "%s/.locks/swept", rootp);
	CHECK(utimensat(AT_FDCWD, mark, ts, 0) == 0);
	REQUIRE(at_store_open_file(&s, rootp) == 0);
	CHECK(access(oldp, F_OK) != 0);
	CHECK(access(newp, F_OK) == 0);
	at_store_close(s);
}

static void test_default_path(void)
{
	char *p = NULL;

	setenv("AUTOTLS_STORAGE", "/srv/x", 1);
	CHECK_OK(at_store_default_path(&p));
	CHECK_STR(p, "/srv/x");
	free(p);
	unsetenv("AUTOTLS_STORAGE");
	if (geteuid() == 0) {
		CHECK_OK(at_store_default_path(&p));
		CHECK_STR(p, "/var/lib/autotls");
		free(p);
		return;
	}
	setenv("XDG_DATA_HOME", "/d", 1);
	CHECK_OK(at_store_default_path(&p));
	CHECK_STR(p, "/d/autotls");
	free(p);
	setenv("XDG_DATA_HOME", "relative", 1);
	setenv("HOME", "/home/u", 1);
	CHECK_OK(at_store_default_path(&p));
	CHECK_STR(p, "/home/u/.local/share/autotls");
	free(p);
	unsetenv("XDG_DATA_HOME");
}

static void test_locks_basic(void)
{
	struct at_store *a = NULL, *b = NULL;

	REQUIRE(at_store_open_file(&a, rootp) == 0);
	if (at_store_open_file(&b, rootp) != 0) {
		at_store_close(a);
		REQUIRE(0);
	}
	CHECK_OK(at_store_lock(a, "issue-example.com", 30, 0));
	CHECK_INT(at_store_lock(b, "issue-example.com", 30, 0), ==, AT_E_LOCKED);
	CHECK_INT(at_store_lock(a, "issue-example.com", 30, 0), ==, AT_E_LOCKED); /* not recursive */
	CHECK_INT(at_store_lock(b, "issue-example.com", 30, 50), ==, AT_E_LOCKED);
	CHECK_OK(at_store_lock(b, "other", 30, 0));
	CHECK_OK(at_store_lock_refresh(a, "issue-example.com", 60));
	CHECK_INT(at_store_lock_refresh(b, "issue-example.com", 60), ==, AT_E_STATE);
	CHECK_INT(at_store_unlock(b, "issue-example.com"), ==, AT_E_STATE);
	CHECK_OK(at_store_unlock(a, "issue-example.com"));
	CHECK_OK(at_store_lock(b, "issue-example.com", 30, 0));
	CHECK_INT(at_store_lock(a, "../x", 30, 0), ==, AT_E_BADNAME);
	CHECK_INT(at_store_lock(a, "x", 0, 0), ==, AT_E_RANGE);
	/* close releases what b holds */
	at_store_close(b);
	CHECK_OK(at_store_lock(a, "issue-example.com", 30, 0));
	CHECK_OK(at_store_lock(a, "other", 30, 0));
	CHECK_OK(at_store_unlock(a, "other"));
	CHECK_OK(at_store_unlock(a, "issue-example.com"));
	at_store_close(a);
}

int main(void)
{
	setup();
	RUN(test_put_load_stat);
	RUN(test_permissions);
	RUN(test_list_del);
	RUN(test_bad_keys);
	RUN(test_symlinks);
	RUN(test_caps);
	RUN(test_sweep);
	RUN(test_default_path);
	RUN(test_locks_basic);
	int rc = TEST_EXIT();
	if (rc == 0)
		rm_rf(base);
	return rc;
}
