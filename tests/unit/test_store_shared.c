/*
 * AUTOTLS_STORAGE_GROUP: a store shared with a reader group makes live certificate records 0640 and their
 * folders 0750 with that group, keeps account keys, staging and locks private, and a member of the group who
 * is not the owner can load certificates but cannot read account keys, write, or lock.
 */
#include "store/store.h"
#include "tests/test.h"
#include "util/err.h"

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define READER_ID 65534 /* nobody / nogroup */

static char base[64] = "/tmp/at-shared-XXXXXX";
static char rootp[128];

static int mode_of(const char *rel, mode_t *mode, gid_t *gid)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", rootp, rel);
	if (stat(p, &st) != 0)
		return -1;
	*mode = st.st_mode & 07777;
	*gid = st.st_gid;
	return 0;
}

static void modes_and_groups(void)
{
	struct at_store *s = NULL;
	REQUIRE(at_store_open_file_shared(&s, rootp, READER_ID) == 0);
	CHECK_OK(at_store_put(s, "certificates/ca/a.example.test/record", "CERT", 4));
	CHECK_OK(at_store_put(s, "accounts/ca/default/key.pem", "KEY", 3));
	CHECK_OK(at_store_put(s, "staging/ca/a.example.test/record", "STAGED", 6));
	mode_t m;
	gid_t g;
	REQUIRE(mode_of("certificates/ca/a.example.test/record", &m, &g) == 0);
	CHECK_INT(m, ==, 0640);
	CHECK_INT(g, ==, READER_ID);
	REQUIRE(mode_of("certificates/ca/a.example.test", &m, &g) == 0);
	CHECK_INT(m, ==, 0750);
	CHECK_INT(g, ==, READER_ID);
	REQUIRE(mode_of("certificates", &m, &g) == 0);
	CHECK_INT(m, ==, 0750);
	REQUIRE(mode_of(".", &m, &g) == 0);
	CHECK_INT(m, ==, 0750);
	CHECK_INT(g, ==, READER_ID);
	REQUIRE(mode_of("accounts/ca/default/key.pem", &m, &g) == 0);
	CHECK_INT(m, ==, 0600);
	REQUIRE(mode_of("accounts", &m, &g) == 0);
	CHECK_INT(m, ==, 0700);
	REQUIRE(mode_of("staging/ca/a.example.test/record", &m, &g) == 0);
	CHECK_INT(m, ==, 0600);
	at_store_close(s);
}

static void reader_reads_only_certificates(void)
{
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		gid_t groups[1] = { READER_ID };
		/* Another user, in the reader group only. */
		if (setgroups(1, groups) != 0 || setgid(READER_ID) != 0 || setuid(READER_ID) != 0)
			_exit(10);
		struct at_store *s = NULL;
		if (at_store_open_file(&s, rootp) != 0)
			_exit(11);
		char *v = NULL;
		size_t n = 0;
		if (at_store_load(s, "certificates/ca/a.example.test/record", &v, &n) != 0 || n != 4 ||
		    memcmp(v, "CERT", 4) != 0)
			_exit(12);
		free(v);
		if (at_store_load(s, "accounts/ca/default/key.pem", &v, &n) == 0)
			_exit(13);
		if (at_store_put(s, "certificates/ca/a.example.test/record", "EVIL", 4) == 0)
			_exit(14);
		if (at_store_lock(s, "issue-a.example.test", 10, 0) == 0)
			_exit(15);
		at_store_close(s);
		_exit(0);
	}
	int status = 0;
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), ==, 0);
}

int main(void)
{
	if (mkdtemp(base) == NULL)
		return 1;
	chmod(base, 0755);
	snprintf(rootp, sizeof(rootp), "%s/store", base);
	if (geteuid() != 0) {
		/* Changing groups and users needs root; CI runs as root. */
		printf("FAIL %s:needs_root\n", __FILE__);
		return 1;
	}
	RUN(modes_and_groups);
	RUN(reader_reads_only_certificates);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	if (system(cmd) != 0)
		return 1;
	return TEST_EXIT();
}
