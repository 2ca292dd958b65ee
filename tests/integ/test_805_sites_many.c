/*
 * Many sites at scale (issue 10, acceptance 1): nginx (master + 2 workers as www-data) with a sites file of
 * SITES_N lines (two names each) against Pebble, TLS-ALPN-01 through nginx's own port. Every site is verified by
 * a client that trusts only Pebble's root, and each certificate carries exactly its own two names. Printed: the
 * total time, sites per second, and the managed single name's time to its first certificate in the same run
 * (the figure to compare one site's issuance against).
 * SITES_N is 1,000 by default; AUTOTLS_TEST_SITES_N sets another (scripts/bench_sites.sh).
 */
#include "tests/harness/proc.h"
#include "tests/harness/san_check.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shim_env env;
static char dir[64], sites_path[128], e_sites[160];
static int sites_n = 1000;
static long single_ms;

static int check_site(int i)
{
	char a[64], b[64];
	snprintf(a, sizeof(a), "site%d.many.test", i);
	snprintf(b, sizeof(b), "www.site%d.many.test", i);
	const char *names[] = { a, b };
	return san_check_exact(env.port, i % 2 ? a : b, env.p.issuing_root_file, names, 2);
}

static void every_site_served_with_its_names(void)
{
	long t0 = harness_now_ms();
	/* In file order: the first not yet served is polled until it is, then the next. */
	int next = 1, wrong = 0;
	while (next <= sites_n && harness_now_ms() - t0 < 300000) {
		int rc = check_site(next);
		if (rc == 0)
			next++;
		else if (rc == 1 && ++wrong > 5)
			break;
		else
			harness_sleep_ms(rc == 1 ? 0 : 100);
	}
	long all_ms = harness_now_ms() - t0;
	/* every site again, now that all are served: one verified handshake each */
	int ok = 0;
	long v0 = harness_now_ms();
	for (int i = 1; i <= sites_n; i++)
		ok += check_site(i) == 0;
	long verify_ms = harness_now_ms() - v0;
	int orders = pebble_count_orders(&env.p);
	double per_s = all_ms > 0 ? 1000.0 * sites_n / (double)all_ms : 0;
	printf("  %d sites issued and served in %ld ms after the managed name: %.1f sites/s; the single managed name "
	       "took %ld ms to its first certificate (%.1f/s alone); %d/%d verified again with exactly their names "
	       "in %ld ms; Pebble's orders: %d\n",
	       sites_n, all_ms, per_s, single_ms, single_ms > 0 ? 1000.0 / (double)single_ms : 0, ok, sites_n,
	       verify_ms, orders);
	printf("BENCH sites=%d total_ms=%ld sites_per_s=%.1f single_name_ms=%ld\n", sites_n, all_ms, per_s, single_ms);
	CHECK_INT(next, ==, sites_n + 1);
	CHECK_INT(ok, ==, sites_n);
	CHECK_INT(orders, ==, sites_n + 1);
}

int main(void)
{
	const char *v = getenv("AUTOTLS_TEST_SITES_N");
	if (v && atoi(v) > 0)
		sites_n = atoi(v);
	snprintf(dir, sizeof(dir), "/tmp/autotls-805-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0755);
	snprintf(sites_path, sizeof(sites_path), "%s/sites.txt", dir);
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites_path);
	FILE *f = fopen(sites_path, "w");
	if (f == NULL)
		return 1;
	for (int i = 1; i <= sites_n; i++)
		fprintf(f, "site%d.many.test www.site%d.many.test\n", i, i);
	fclose(f);
	shim_env_extra[0] = e_sites;
	shim_env_extra[1] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	int ok = shim_env_prepare(&env, SERVER_NGINX) == 0;
	/* info, not debug: debug lines for 1,000 orders would be much of the run */
	snprintf(env.e_level, sizeof(env.e_level), "AUTOTLS_LOG_LEVEL=info");
	ok = ok && shim_env_server_start(&env) == 0 &&
		 (single_ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS)) >= 0;
	if (!ok) {
		unlink(sites_path);
		rmdir(dir);
		return shim_env_setup_failed(&env, __FILE__);
	}
	RUN(every_site_served_with_its_names);
	unlink(sites_path);
	rmdir(dir);
	return shim_env_exit(&env);
}
