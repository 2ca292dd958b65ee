/*
 * A sites file alone (issue 10): nginx (master + 2 workers as www-data) with AUTOTLS_SITES and no
 * AUTOTLS_DOMAINS. The shim turns on, the tree's manager process runs the sites' workers, every line is issued
 * and served with exactly its own names (a client trusting only Pebble's root), and no other order is placed
 * (there is no leader's certificate: Pebble's order count is the lines'). The leader's control channel still
 * answers: `autotls renew` is refused at once with the reason, not left hanging, and orders nothing.
 */
#include "tests/harness/command.h"
#include "tests/harness/proc.h"
#include "tests/harness/san_check.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SITES 3

static struct shim_env env;
static char dir[64], sites_path[128], e_sites[160];

static void site_names(int i, char a[64], char b[64])
{
	snprintf(a, 64, "a%d.alone.test", i);
	snprintf(b, 64, "www.a%d.alone.test", i);
}

static int write_sites(void)
{
	FILE *f = fopen(sites_path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "# test_811: no AUTOTLS_DOMAINS beside this file\n");
	for (int i = 1; i <= SITES; i++) {
		char a[64], b[64];
		site_names(i, a, b);
		fprintf(f, "%s %s\n", a, b);
	}
	return fclose(f);
}

static void every_site_served_without_domains(void)
{
	long t0 = harness_now_ms(), ms = -1;
	while (harness_now_ms() - t0 < SHIM_ISSUE_TIMEOUT_MS) {
		int ok = 1;
		for (int i = 1; i <= SITES && ok; i++) {
			char a[64], b[64];
			site_names(i, a, b);
			const char *names[] = { a, b };
			ok = san_check_exact(env.port, a, env.p.issuing_root_file, names, 2) == 0;
		}
		if (ok) {
			ms = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(200);
	}
	printf("  %d sites verified (each with exactly its two names) %ld ms after the server's start\n", SITES, ms);
	CHECK(ms >= 0);
	CHECK(shim_log_has(&env, "managing the sites of"));
	CHECK(shim_log_has(&env, "sites: watching"));
	int orders = pebble_count_orders(&env.p);
	printf("  Pebble's orders: %d (one a line, nothing else)\n", orders);
	CHECK_INT(orders, ==, SITES);
	/* the server's own certificate for a name no line has: nothing managed it */
	CHECK(shim_try_verified(&env, SHIM_NAME, NULL, 0, NULL) != 0);
}

/* `autotls renew` against the running server: refused at once with the reason (no leader's certificate). */
static void renew_refused_with_a_reason(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX], cli[PATH_MAX], cmd[3 * PATH_MAX], out[8192];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	snprintf(cmd, sizeof(cmd), "env AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s timeout 20 %s --storage %s renew 2>&1",
		 env.p.directory_url, env.ca_roots, cli, env.store);
	long t0 = harness_now_ms();
	int rc = harness_command(cmd, out, sizeof(out));
	printf("  autotls renew: exit %d in %ld ms: %s", rc, harness_now_ms() - t0, out);
	CHECK(rc != 0 && rc != 124);
	CHECK(strstr(out, "AUTOTLS_DOMAINS is not set") != NULL);
	CHECK_INT(pebble_count_orders(&env.p), ==, SITES);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/autotls-811-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0755);
	snprintf(sites_path, sizeof(sites_path), "%s/sites.txt", dir);
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites_path);
	shim_env_domains = ""; /* AUTOTLS_DOMAINS= (empty: not set) */
	shim_env_extra[0] = e_sites;
	shim_env_extra[1] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	long t0 = harness_now_ms();
	int ok = write_sites() == 0 && shim_env_prepare(&env, SERVER_NGINX) == 0 && shim_env_server_start(&env) == 0;
	if (!ok) {
		unlink(sites_path);
		rmdir(dir);
		return shim_env_setup_failed(&env, __FILE__);
	}
	printf("  setup (Pebble, nginx): %ld ms\n", harness_now_ms() - t0);
	RUN(every_site_served_without_domains);
	RUN(renew_refused_with_a_reason);
	unlink(sites_path);
	rmdir(dir);
	return shim_env_exit(&env);
}
