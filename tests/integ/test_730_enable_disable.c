/*
 * `autotls enable nginx -d example.test` then `autotls disable nginx` in a scratch root (--root): the drop-in
 * /etc/systemd/system/nginx.service.d/autotls.conf is written with the documented content (the mark line,
 * [Service], the preload beside the command, the settings given, '%' doubled for systemd), 0644 in a 0755
 * folder; the command names `systemctl daemon-reload && systemctl restart nginx` and nginx's `env` lines;
 * settings the preload would refuse write nothing; disable removes the file and the emptied folder, and leaves
 * alone a drop-in it did not write.
 */
#include "tests/harness/command.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char cli[PATH_MAX], preload[PATH_MAX], root[] = "/tmp/autotls-730-XXXXXX", out[8192];
static char dropin[PATH_MAX], dropdir[PATH_MAX - 64];

static int autotls(const char *args)
{
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "%s %s", cli, args);
	return harness_command(cmd, out, sizeof(out));
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void setup(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	snprintf(rel, sizeof(rel), "%s/libautotls.so", build && *build ? build : "build");
	REQUIRE(realpath(rel, preload) != NULL);
	REQUIRE(mkdtemp(root) != NULL);
	snprintf(dropdir, sizeof(dropdir), "%s/etc/systemd/system/nginx.service.d", root);
	snprintf(dropin, sizeof(dropin), "%s/autotls.conf", dropdir);
}

static void enable_writes_the_documented_dropin(void)
{
	char args[PATH_MAX + 200], want[4 * PATH_MAX];
	snprintf(args, sizeof(args), "enable nginx -d example.test,www.example.test --email ops@example.test "
				     "--set AUTOTLS_KEY_TYPE=rsa2048 --set AUTOTLS_STORAGE=/var/lib/autotls%%x --root %s",
		 root);
	CHECK_INT(autotls(args), ==, 0);
	fprintf(stderr, "%s", out);
	CHECK(strstr(out, "apply it: systemctl daemon-reload && systemctl restart nginx\n") != NULL);
	CHECK(strstr(out, "env LD_PRELOAD; env AUTOTLS_DOMAINS; env AUTOTLS_EMAIL; env AUTOTLS_KEY_TYPE; "
			  "env AUTOTLS_STORAGE;") != NULL);
	const char *text = slurp(dropin);
	REQUIRE(text != NULL);
	snprintf(want, sizeof(want),
		 "# Written by `autotls enable nginx` (autotls %s); `autotls disable nginx` removes it.\n"
		 "# Applied by: systemctl daemon-reload && systemctl restart nginx\n"
		 "[Service]\n"
		 "Environment=\"LD_PRELOAD=%s\"\n"
		 "Environment=\"AUTOTLS_DOMAINS=example.test,www.example.test\"\n"
		 "Environment=\"AUTOTLS_EMAIL=ops@example.test\"\n"
		 "Environment=\"AUTOTLS_KEY_TYPE=rsa2048\"\n"
		 "Environment=\"AUTOTLS_STORAGE=/var/lib/autotls%%%%x\"\n",
		 AT_VERSION, preload);
	CHECK_STR(text, want);
	struct stat st;
	CHECK(stat(dropin, &st) == 0 && (st.st_mode & 07777) == 0644);
	CHECK(stat(dropdir, &st) == 0 && (st.st_mode & 07777) == 0755);
	/* "nginx.service" is the same unit; enabling again replaces the file. */
	snprintf(args, sizeof(args), "enable nginx.service -d example.test --root %s", root);
	CHECK_INT(autotls(args), ==, 0);
	text = slurp(dropin);
	CHECK(text != NULL && strstr(text, "AUTOTLS_EMAIL") == NULL && strstr(text, "=example.test\"") != NULL);
}

static void refused_settings_write_nothing(void)
{
	char args[PATH_MAX + 200];
	char other[PATH_MAX];
	snprintf(other, sizeof(other), "%s/etc/systemd/system/apache2.service.d", root);
	snprintf(args, sizeof(args), "enable apache2 -d 'bad domain' --root %s", root);
	CHECK_INT(autotls(args), ==, 2);
	snprintf(args, sizeof(args), "enable apache2 -d example.test --ca http://ca.test/dir --root %s", root);
	CHECK_INT(autotls(args), ==, 2);
	snprintf(args, sizeof(args), "enable apache2 --root %s", root); /* no names */
	CHECK_INT(autotls(args), ==, 2);
	snprintf(args, sizeof(args), "enable ../x -d example.test --root %s", root);
	CHECK_INT(autotls(args), ==, 2);
	snprintf(args, sizeof(args), "enable apache2 -d example.test --set 'AUTOTLS_EMAIL=a\"b' --root %s", root);
	CHECK_INT(autotls(args), ==, 2);
	CHECK(access(other, F_OK) != 0);
}

static void disable_removes_only_its_own(void)
{
	char args[PATH_MAX + 100];
	snprintf(args, sizeof(args), "disable nginx --root %s", root);
	CHECK_INT(autotls(args), ==, 0);
	CHECK(strstr(out, "apply it: systemctl daemon-reload && systemctl restart nginx\n") != NULL);
	CHECK(access(dropin, F_OK) != 0);
	CHECK(access(dropdir, F_OK) != 0);
	CHECK_INT(autotls(args), ==, 0); /* nothing to do */
	CHECK(strstr(out, "nothing to do") != NULL);
	/* An operator's own autotls.conf is not ours to remove. */
	REQUIRE(mkdir(dropdir, 0755) == 0);
	FILE *f = fopen(dropin, "w");
	REQUIRE(f != NULL);
	fputs("[Service]\nEnvironment=FOO=1\n", f);
	fclose(f);
	CHECK_INT(autotls(args), ==, 1);
	CHECK(access(dropin, F_OK) == 0);
	unlink(dropin);
	rmdir(dropdir);
}

int main(void)
{
	RUN(setup);
	if (test_failed_total == 0) {
		RUN(enable_writes_the_documented_dropin);
		RUN(refused_settings_write_nothing);
		RUN(disable_removes_only_its_own);
	}
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return TEST_EXIT();
}
