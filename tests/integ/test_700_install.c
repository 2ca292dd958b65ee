/*
 * `make install`: into a scratch DESTDIR with PREFIX=/usr it installs exactly the documented files (README
 * "Installing", the Makefile's INSTALLED: the preload, the manager library and autotls-manager together in the
 * multiarch folder, autotls and autotls-run in bin, three man pages, the host manager's autotls.service) with their
 * modes, the unit's ExecStart naming the installed autotls-manager; the installed preload,
 * under `openssl s_server` against Pebble, gets a certificate a client verifies, with the installed manager
 * found beside it (the server maps the installed libautotls-manager.so, and the tree's manager process runs the
 * installed autotls-manager), not the build folder's; the installed autotls prints the one version (the file
 * VERSION) and the installed autotls-run points at the installed folder; `make uninstall` removes every file.
 */
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The documented list (README "Installing"), relative to DESTDIR with PREFIX=/usr, and each file's mode. */
static const struct {
	const char *path;
	mode_t mode;
} documented[] = {
	{ "/usr/lib/@MA@/libautotls.so", 0644 },
	{ "/usr/lib/@MA@/libautotls-manager.so", 0644 },
	{ "/usr/lib/@MA@/autotls-manager", 0755 },
	{ "/usr/bin/autotls", 0755 },
	{ "/usr/bin/autotls-run", 0755 },
	{ "/usr/share/man/man1/autotls.1", 0644 },
	{ "/usr/share/man/man1/autotls-run.1", 0644 },
	{ "/usr/share/man/man7/libautotls.7", 0644 },
	{ "/usr/lib/systemd/system/autotls.service", 0644 },
};
#define NDOC (sizeof(documented) / sizeof(documented[0]))

static char dest[256], multiarch[64], found[32][PATH_MAX];
static size_t nfound;

static void doc_path(char *out, size_t size, size_t i)
{
	const char *p = documented[i].path, *at = strstr(p, "@MA@");
	if (at != NULL)
		snprintf(out, size, "%s%.*s%s%s", dest, (int)(at - p), p, multiarch, at + 4);
	else
		snprintf(out, size, "%s%s", dest, p);
}

static int collect(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)f;
	if (type != FTW_D && type != FTW_DP && nfound < 32)
		snprintf(found[nfound++], PATH_MAX, "%s", path);
	return 0;
}

static int make_cmd(const char *target, char *out, size_t cap)
{
	const char *build = getenv("BUILD");
	char cmd[800];
	snprintf(cmd, sizeof(cmd), "make -s --no-print-directory %s DESTDIR=%s PREFIX=/usr BUILD=%s >&2", target,
		 dest, build && *build ? build : "build");
	return harness_command(cmd, out, cap);
}

static void installs_exactly_the_documented_files(void)
{
	char out[256], path[PATH_MAX];
	struct stat st;
	REQUIRE(harness_command("dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch", out,
				sizeof(out)) == 0);
	snprintf(multiarch, sizeof(multiarch), "%.*s", (int)strcspn(out, "\n"), out);
	REQUIRE(multiarch[0] != '\0');
	CHECK_OK(make_cmd("install", NULL, 0));
	nfound = 0;
	CHECK_OK(nftw(dest, collect, 16, FTW_PHYS));
	CHECK_INT(nfound, ==, NDOC);
	for (size_t i = 0; i < NDOC; i++) {
		doc_path(path, sizeof(path), i);
		if (stat(path, &st) != 0) {
			fprintf(stderr, "  not installed: %s\n", path);
			CHECK(0);
			continue;
		}
		CHECK_INT(st.st_mode & 07777, ==, documented[i].mode);
	}
	for (size_t k = 0; k < nfound; k++) {
		int listed = 0;
		for (size_t i = 0; i < NDOC; i++) {
			doc_path(path, sizeof(path), i);
			listed |= strcmp(path, found[k]) == 0;
		}
		if (!listed)
			fprintf(stderr, "  installed but not documented: %s\n", found[k]);
		CHECK(listed);
	}
}

static void one_version_everywhere(void)
{
	char cmd[2 * PATH_MAX], out[512];
	size_t len = 0;
	char *version = harness_read_file("VERSION", &len);
	REQUIRE(version != NULL);
	version[strcspn(version, "\n")] = '\0';
	snprintf(cmd, sizeof(cmd), "%s/usr/bin/autotls --version", dest);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	char want[128];
	snprintf(want, sizeof(want), "autotls %s\n", version);
	CHECK_STR(out, want);
	/* The User-Agent the manager sends to CAs (acme/http_curl.c) carries the same number. */
	char lib[PATH_MAX];
	snprintf(lib, sizeof(lib), "%s/usr/lib/%s/libautotls-manager.so", dest, multiarch);
	snprintf(cmd, sizeof(cmd), "grep -c -a 'libautotls/%s' %s", version, lib);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	/* The man pages name it and the installed folder. */
	snprintf(cmd, sizeof(cmd), "grep -c 'libautotls %s' %s/usr/share/man/man1/autotls.1", version, dest);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	snprintf(cmd, sizeof(cmd), "grep -c '/usr/lib/%s/libautotls.so' %s/usr/share/man/man7/libautotls.7", multiarch,
		 dest);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	/* autotls-run looks in the installed folder, not at DESTDIR. */
	snprintf(cmd, sizeof(cmd), "grep -x 'installed_libdir=/usr/lib/%s' %s/usr/bin/autotls-run", multiarch, dest);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	/* The host manager's unit runs the installed autotls-manager. */
	snprintf(cmd, sizeof(cmd), "grep -x 'ExecStart=/usr/lib/%s/autotls-manager --host' "
		 "%s/usr/lib/systemd/system/autotls.service", multiarch, dest);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	free(version);
}

/* 1 when some process runs exe (its /proc/<pid>/exe). */
static int a_process_runs(const char *exe)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int hit = 0;
	while (d && !hit && (de = readdir(d)) != NULL) {
		char link[300], target[PATH_MAX];
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(link, sizeof(link), "/proc/%s/exe", de->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			hit = strcmp(target, exe) == 0;
		}
	}
	if (d)
		closedir(d);
	return hit;
}

/* 1 when pid maps path. */
static int maps(pid_t pid, const char *path)
{
	char f[64];
	size_t len = 0;
	snprintf(f, sizeof(f), "/proc/%d/maps", (int)pid);
	char *text = harness_read_file(f, &len);
	if (text == NULL)
		return 0;
	int hit = strstr(text, path) != NULL;
	free(text);
	return hit;
}

static void installed_preload_gets_a_certificate(void)
{
	static struct shim_env env;
	char lib[PATH_MAX], mgr_so[PATH_MAX], mgr_exe[PATH_MAX], build_lib[PATH_MAX];
	snprintf(lib, sizeof(lib), "%s/usr/lib/%s/libautotls.so", dest, multiarch);
	snprintf(mgr_so, sizeof(mgr_so), "%s/usr/lib/%s/libautotls-manager.so", dest, multiarch);
	snprintf(mgr_exe, sizeof(mgr_exe), "%s/usr/lib/%s/autotls-manager", dest, multiarch);
	REQUIRE(harness_shim_lib_path(build_lib, sizeof(build_lib)) == 0);
	shim_env_lib = lib;
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	shim_env_lib = NULL;
	REQUIRE(started);
	CHECK(strstr(env.e_preload, dest) != NULL);
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	fprintf(stderr, "  verified after %ld ms under %s\n", ms, lib);
	/* The installed manager, found beside the installed preload; nothing of the build folder. */
	CHECK(maps(env.srv.pid, mgr_so));
	CHECK(maps(env.srv.pid, lib));
	char *slash = strrchr(build_lib, '/');
	if (slash)
		*slash = '\0';
	CHECK(!maps(env.srv.pid, build_lib));
	CHECK(a_process_runs(mgr_exe));
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

static void uninstall_removes_every_file(void)
{
	char path[PATH_MAX];
	CHECK_OK(make_cmd("uninstall", NULL, 0));
	for (size_t i = 0; i < NDOC; i++) {
		doc_path(path, sizeof(path), i);
		CHECK(access(path, F_OK) != 0 && errno == ENOENT);
	}
	nfound = 0;
	CHECK_OK(nftw(dest, collect, 16, FTW_PHYS));
	CHECK_INT(nfound, ==, 0);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dest, sizeof(dest), "%s/autotls-install-XXXXXX", tmp && *tmp && strlen(tmp) < 150 ? tmp : "/tmp");
	if (mkdtemp(dest) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* Servers may run as other users: the installed files must be reachable as they would be under /usr. */
	chmod(dest, 0755);
	RUN(installs_exactly_the_documented_files);
	RUN(one_version_everywhere);
	RUN(installed_preload_gets_a_certificate);
	RUN(uninstall_removes_every_file);
	harness_remove_or_keep(dest);
	return TEST_EXIT();
}
