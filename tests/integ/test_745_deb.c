/*
 * `make deb` (without lintian: `make deb` runs it, the test needs only the package), then `dpkg -i`: the package
 * holds the documented files (the Makefile's INSTALLED with PREFIX=/usr, plus Debian's copyright and changelog
 * and the lintian overrides);
 * the README's one-line example with the installed path (LD_PRELOAD=/usr/lib/<multiarch>/libautotls.so under
 * openssl s_server) gets a certificate from Pebble that a client verifies; the installed autotls writes a drop-in
 * naming the installed preload. `dpkg -r` removes every file and keeps /var/lib/autotls; `dpkg --purge` then
 * removes /var/lib/autotls and the drop-ins autotls enable wrote, and leaves nothing of the package.
 * It changes the machine (a package, /var/lib/autotls, /etc/systemd/system/autotls-test-745.service.d) and puts
 * it back. It fails without touching anything where it would destroy something: a libautotls.so in /usr/lib that
 * the package does not own (a `make install PREFIX=/usr`) or an existing /var/lib/autotls (a real store); and
 * when not root (dpkg needs it).
 */
#include "tests/harness/command.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNIT "autotls-test-745"
#define DROPIN_DIR "/etc/systemd/system/" UNIT ".service.d"

static char out[65536], ma[64], deb[PATH_MAX], lib[PATH_MAX];
static const char *const documented[] = { "/usr/lib/@MA@/libautotls.so", "/usr/lib/@MA@/libautotls-manager.so",
					  "/usr/lib/@MA@/autotls-manager", "/usr/bin/autotls", "/usr/bin/autotls-run",
					  "/usr/share/man/man1/autotls.1.gz", "/usr/share/man/man1/autotls-run.1.gz",
					  "/usr/share/man/man7/libautotls.7.gz", "/usr/share/doc/autotls/copyright",
					  "/usr/share/doc/autotls/changelog.gz", "/usr/share/lintian/overrides/autotls",
					  "/lib/systemd/system/autotls.service" };
#define NDOC (sizeof(documented) / sizeof(documented[0]))

static void doc_path(char *buf, size_t size, const char *p)
{
	const char *at = strstr(p, "@MA@");
	if (at == NULL)
		snprintf(buf, size, "%s", p);
	else
		snprintf(buf, size, "%.*s%s%s", (int)(at - p), p, ma, at + 4);
}

static int sh(const char *cmd)
{
	int rc = harness_command(cmd, out, sizeof(out));
	if (rc != 0)
		fprintf(stderr, "  `%s` -> %d: %s\n", cmd, rc, out);
	return rc;
}

static int safe_to_run(void)
{
	if (geteuid() != 0) {
		printf("FAIL %s: dpkg -i needs root\n", __FILE__);
		return 0;
	}
	if (harness_command("dpkg-architecture -qDEB_HOST_MULTIARCH", out, sizeof(out)) != 0) {
		printf("FAIL %s: dpkg-architecture (dpkg-dev) is missing: scripts/deps.sh\n", __FILE__);
		return 0;
	}
	snprintf(ma, sizeof(ma), "%.*s", (int)strcspn(out, "\n"), out);
	snprintf(lib, sizeof(lib), "/usr/lib/%s/libautotls.so", ma);
	if (access(lib, F_OK) == 0 && harness_command("dpkg -S /usr/lib/*/libautotls.so", out, sizeof(out)) != 0) {
		printf("FAIL %s: %s exists and no package owns it (make install PREFIX=/usr? make uninstall "
		       "PREFIX=/usr removes it)\n", __FILE__, lib);
		return 0;
	}
	if (access("/var/lib/autotls", F_OK) == 0) {
		printf("FAIL %s: /var/lib/autotls exists (a real store): purging the package would remove it; run "
		       "this test where there is none\n", __FILE__);
		return 0;
	}
	return 1;
}

static void builds_and_installs(void)
{
	const char *build = getenv("BUILD");
	char cmd[4 * PATH_MAX], abs_build[PATH_MAX];
	REQUIRE(realpath(build && *build ? build : "build", abs_build) != NULL);
	/* no debug-symbol package: the test does not install it, and it costs time */
	snprintf(cmd, sizeof(cmd),
		 "DEB_BUILD_OPTIONS=noddebs make --no-print-directory deb LINTIAN= BUILD=%s >%s/deb.log 2>&1 || "
		 "{ tail -40 %s/deb.log; exit 1; }", abs_build, abs_build, abs_build);
	REQUIRE(sh(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "ls %s/deb/autotls_*.deb", abs_build);
	REQUIRE(sh(cmd) == 0);
	snprintf(deb, sizeof(deb), "%.*s", (int)strcspn(out, "\n"), out);
	snprintf(cmd, sizeof(cmd), "flock /tmp/autotls-apt.lock dpkg -i %s", deb);
	REQUIRE(sh(cmd) == 0);
	/* exactly the documented files (folders aside) */
	REQUIRE(sh("dpkg -L autotls | while read -r p; do [ -d \"$p\" ] || echo \"$p\"; done | sort") == 0);
	size_t files = 0;
	for (const char *p = out; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0))
		files++;
	CHECK_INT((long)files, ==, (long)NDOC);
	for (size_t i = 0; i < NDOC; i++) {
		char path[PATH_MAX], line[PATH_MAX + 2];
		doc_path(path, sizeof(path), documented[i]);
		snprintf(line, sizeof(line), "%s\n", path);
		CHECK(strstr(out, line) != NULL);
		CHECK(access(path, F_OK) == 0);
	}
}

static void installed_command_and_preload(void)
{
	char want[PATH_MAX + 64];
	CHECK_OK(sh("/usr/bin/autotls enable " UNIT " -d example.test"));
	FILE *f = fopen(DROPIN_DIR "/autotls.conf", "r");
	REQUIRE(f != NULL);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	fclose(f);
	out[n] = '\0';
	snprintf(want, sizeof(want), "Environment=\"LD_PRELOAD=%s\"\n", lib);
	CHECK(strstr(out, want) != NULL);
	/* The README's example: AUTOTLS_DOMAINS=... LD_PRELOAD=/usr/lib/<multiarch>/libautotls.so <server> */
	static struct shim_env env;
	shim_env_lib = lib;
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	shim_env_lib = NULL;
	CHECK(started);
	if (started) {
		CHECK(strstr(env.e_preload, lib) != NULL);
		long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
		CHECK(ms >= 0);
		fprintf(stderr, "  the installed preload got a verified certificate in %ld ms\n", ms);
	}
	shim_env_finish(&env);
}

static void remove_keeps_the_store_purge_leaves_nothing(void)
{
	char path[PATH_MAX];
	/* a store as a server running as root makes it by default */
	REQUIRE(sh("mkdir -m 0700 /var/lib/autotls && touch /var/lib/autotls/marker") == 0);
	CHECK_OK(sh("flock /tmp/autotls-apt.lock dpkg -r autotls"));
	for (size_t i = 0; i < NDOC; i++) {
		doc_path(path, sizeof(path), documented[i]);
		if (strstr(path, "/usr/share/doc/") == NULL) /* dpkg keeps the copyright until purge */
			CHECK(access(path, F_OK) != 0);
	}
	CHECK(access("/var/lib/autotls/marker", F_OK) == 0);
	CHECK(access(DROPIN_DIR "/autotls.conf", F_OK) == 0);
	CHECK_OK(sh("flock /tmp/autotls-apt.lock dpkg --purge autotls"));
	for (size_t i = 0; i < NDOC; i++) {
		doc_path(path, sizeof(path), documented[i]);
		CHECK(access(path, F_OK) != 0);
	}
	CHECK(access("/var/lib/autotls", F_OK) != 0);
	CHECK(access(DROPIN_DIR, F_OK) != 0);
	CHECK(sh("dpkg -s autotls >/dev/null 2>&1") != 0);
	CHECK(access("/usr/share/doc/autotls", F_OK) != 0);
}

int main(void)
{
	if (!safe_to_run())
		return 1;
	RUN(builds_and_installs);
	if (test_failed_total == 0) {
		RUN(installed_command_and_preload);
		RUN(remove_keeps_the_store_purge_leaves_nothing);
	}
	/* Whatever failed, put the machine back. */
	if (harness_command("dpkg -s autotls >/dev/null 2>&1", out, sizeof(out)) == 0 &&
	    harness_command("flock /tmp/autotls-apt.lock dpkg --purge autotls", out, sizeof(out)) != 0)
		fprintf(stderr, "could not purge the package autotls\n");
	if (harness_command("rm -rf " DROPIN_DIR, out, sizeof(out)) != 0)
		fprintf(stderr, "could not remove " DROPIN_DIR "\n");
	return TEST_EXIT();
}
