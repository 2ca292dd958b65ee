/*
 * Many sites (issue 10): nginx (master + 2 workers as www-data) with AUTOTLS_SITES, a file of 20 certificate
 * lines against Pebble, TLS-ALPN-01 only.
 *   - acceptance 2: one site (fail.sites.test) whose name resolves where nothing listens (the mock DNS answers
 *     127.0.0.2; nginx listens on 127.0.0.1 only) among 20: the 18 others are issued and served while it
 *     fails, and its log lines show its backoff (AUTOTLS_TEST_BACKOFF_SCALE=60: 1 s, 10 s, ...);
 *   - acceptance 4: a line of 101 names is refused with one error naming the file and line, no order is placed
 *     for it (Pebble's order count is what the other lines explain), the lines after it are issued;
 *   - acceptance 3: the file replaced while a client loops over untouched sites: 10 lines added, 5 removed, 1
 *     changed (a name added): the new ones verified within 10 s plus issuance, the removed ones withdrawn (no
 *     longer served, no longer renewed), 0 failed handshakes for the untouched ones, nginx's pids unchanged (no
 *     reload, no restart).
 * Every site is checked with a client that trusts only Pebble's root, and its certificate must carry exactly
 * its own line's names.
 */
#include "tests/harness/procfs.h"
#include "tests/harness/proc.h"
#include "tests/harness/san_check.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOOD 18 /* s1..s18, two names each */
#define FAIL_NAME "fail.sites.test"
#define BIG 101

static struct shim_env env;
static char dir[64], sites_path[128], e_sites[160];

static void site_names(int i, char a[64], char b[64])
{
	snprintf(a, 64, "s%d.sites.test", i);
	snprintf(b, 64, "www.s%d.sites.test", i);
}

/* The file as the test wants it now, replaced atomically (a rename, as editors and deploy tools do). */
static int write_sites(int first, int last, int changed, int extra_from, int extra_to)
{
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp", sites_path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "# test_800's sites\n\n");
	for (int i = first; i <= last; i++) {
		char a[64], b[64];
		site_names(i, a, b);
		fprintf(f, "%s\t%s%s%s\n", a, b, i == changed ? " api." : "", i == changed ? a : "");
		if (i == 3) {
			fprintf(f, "%s   # resolves where nothing listens\n", FAIL_NAME);
			for (int k = 0; k < BIG; k++)
				fprintf(f, "%sn%d.big.sites.test", k ? " " : "", k);
			fprintf(f, "\n");
		}
	}
	for (int i = extra_from; i <= extra_to; i++)
		fprintf(f, "n%d.sites.test www.n%d.sites.test\n", i, i);
	fclose(f);
	return rename(tmp, sites_path);
}

static int check_site(const char *a, const char *b, const char *c)
{
	const char *names[] = { a, b, c };
	return san_check_exact(env.port, a, env.p.issuing_root_file, names, c ? 3 : 2);
}

/* Polls until every site s[from..to] (and n[nfrom..nto]) verifies with exactly its names; ms or -1. */
static long until_all(int from, int to, int nfrom, int nto, int changed, long timeout_ms)
{
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < timeout_ms) {
		int ok = 1;
		for (int i = from; i <= to && ok; i++) {
			char a[64], b[64], c[80];
			site_names(i, a, b);
			snprintf(c, sizeof(c), "api.%s", a);
			ok = check_site(a, b, i == changed ? c : NULL) == 0;
		}
		for (int i = nfrom; i <= nto && ok; i++) {
			char a[64], b[64];
			snprintf(a, sizeof(a), "n%d.sites.test", i);
			snprintf(b, sizeof(b), "www.n%d.sites.test", i);
			ok = check_site(a, b, NULL) == 0;
		}
		if (ok)
			return harness_now_ms() - t0;
		harness_sleep_ms(200);
	}
	return -1;
}

static void eighteen_of_twenty_and_a_refused_line(void)
{
	long t0 = harness_now_ms();
	long ms = until_all(1, GOOD, 1, 0, 0, 40000);
	printf("  %d sites verified (each with exactly its two names) %ld ms after the managed name\n", GOOD, ms);
	CHECK(ms >= 0);
	/* www. names resolve to their site too (the region's lookup by every SAN name) */
	char a[64], b[64];
	site_names(7, a, b);
	const char *n7[] = { a, b };
	CHECK_INT(san_check_exact(env.port, b, env.p.issuing_root_file, n7, 2), ==, 0);
	/* The failing one: backing off, never served, the others unaffected. */
	long fail_ms = shim_log_wait(&env, "sites: " FAIL_NAME " (line ", "try 3 in", 1, 20000);
	shim_log_print(&env, "sites: " FAIL_NAME, 4);
	CHECK(fail_ms >= 0);
	CHECK(shim_try_verified(&env, FAIL_NAME, NULL, 0, NULL) != 0);
	/* The 101-name line: one error, no order. */
	CHECK_INT(shim_log_count(&env, "sites.txt:7: more than 100 names", NULL), ==, 1);
	CHECK(shim_try_verified(&env, "n0.big.sites.test", NULL, 0, NULL) != 0);
	int fails = shim_log_count(&env, "sites: " FAIL_NAME " (line ", "failed");
	int orders = pebble_count_orders(&env.p);
	printf("  %d failed tries of %s so far; Pebble's orders: %d (1 managed + %d sites + the failed tries)\n", fails,
	       FAIL_NAME, orders, GOOD);
	/* An order per failed try, one per site and the managed one; the refused line would make one more. A try
	 * in flight may have ordered and not logged yet. */
	CHECK(orders >= 1 + GOOD + fails && orders <= 1 + GOOD + fails + 1);
	(void)t0;
}

struct loop {
	atomic_int stop;
	int ok, failed;
};

static void *client_loop(void *arg)
{
	struct loop *l = arg;
	for (int k = 0; !atomic_load(&l->stop); k++) {
		char a[64], b[64];
		site_names(1 + k % 8, a, b); /* s1..s8: untouched by the edit */
		if (check_site(a, b, NULL) == 0)
			l->ok++;
		else
			l->failed++;
	}
	return NULL;
}

static int pids_of_tree(pid_t *out, unsigned long long *starts, int max)
{
	int n = procfs_group_members(env.srv.pgid, out, max);
	for (int i = 0; i < n; i++) {
		struct procfs_stat st;
		starts[i] = procfs_stat(out[i], &st) == 0 ? st.start : 0;
	}
	return n;
}

static void edited_while_clients_loop(void)
{
	pid_t before[16], after[16];
	unsigned long long sb[16], sa[16];
	int nb = pids_of_tree(before, sb, 16);
	struct loop l = { 0 };
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, client_loop, &l) == 0);
	harness_sleep_ms(500);
	/* 10 added (n1..n10), 5 removed (s14..s18), 1 changed (s12 gains api.s12) */
	long t0 = harness_now_ms();
	REQUIRE(write_sites(1, GOOD - 5, 12, 1, 10) == 0);
	long ms = until_all(12, 12, 1, 10, 12, 10000 + 20000);
	long gone_ms = -1;
	for (long t1 = harness_now_ms(); harness_now_ms() - t1 < 10000;) {
		int gone = 1;
		for (int i = GOOD - 4; i <= GOOD && gone; i++) {
			char a[64], b[64];
			site_names(i, a, b);
			gone = shim_try_verified(&env, a, NULL, 0, NULL) != 0;
		}
		if (gone) {
			gone_ms = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(200);
	}
	harness_sleep_ms(1000);
	atomic_store(&l.stop, 1);
	pthread_join(t, NULL);
	int na = pids_of_tree(after, sa, 16);
	int same = na == nb;
	for (int i = 0; i < nb && same; i++) {
		int found = 0;
		for (int j = 0; j < na; j++)
			found |= before[i] == after[j] && sb[i] == sa[j];
		same = found;
	}
	printf("  edit: the 10 new sites and the changed one verified %ld ms after the edit; the 5 removed ones no "
	       "longer served after %ld ms; untouched sites: %d handshakes, %d failed; nginx's %d processes %s\n",
	       ms, gone_ms, l.ok + l.failed, l.failed, nb, same ? "unchanged" : "CHANGED");
	CHECK(ms >= 0);
	CHECK(gone_ms >= 0);
	CHECK_INT(l.failed, ==, 0);
	CHECK(l.ok > 10);
	CHECK(nb >= 3 && same);
	CHECK_INT(shim_log_count(&env, "sites: s17.sites.test was removed", NULL), ==, 1);
	CHECK_INT(shim_log_count(&env, "(10 new, 1 changed, 5 removed)", NULL), ==, 1);
	/* the untouched ones still verify with their own names */
	CHECK(until_all(1, 11, 1, 0, 0, 2000) >= 0);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/autotls-800-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0755);
	snprintf(sites_path, sizeof(sites_path), "%s/sites.txt", dir);
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites_path);
	shim_env_extra[0] = e_sites;
	shim_env_extra[1] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	shim_env_extra[2] = "AUTOTLS_TEST_BACKOFF_SCALE=60";
	long t0 = harness_now_ms();
	int ok = write_sites(1, GOOD, 0, 1, 0) == 0 && shim_env_prepare(&env, SERVER_NGINX) == 0 &&
		 pebble_set_a(&env.p, FAIL_NAME, "127.0.0.2") == 0 && shim_env_server_start(&env) == 0 &&
		 shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0;
	if (!ok) {
		unlink(sites_path);
		rmdir(dir);
		return shim_env_setup_failed(&env, __FILE__);
	}
	printf("  setup (Pebble, nginx, the managed name issued): %ld ms\n", harness_now_ms() - t0);
	RUN(eighteen_of_twenty_and_a_refused_line);
	RUN(edited_while_clients_loop);
	unlink(sites_path);
	rmdir(dir);
	return shim_env_exit(&env);
}
