/*
 * On-demand at hosting scale (issue 10, acceptance 5): nginx (master + 2 workers) with AUTOTLS_ON_DEMAND=1,
 * AUTOTLS_ALLOW=*.burst.test and the rate raised (AUTOTLS_ON_DEMAND_RATE=6000), BURST_N new names asked for in a
 * burst (one handshake each, as fast as the client goes), then polled until every one verifies against Pebble's
 * root. Meanwhile a second client does handshakes for the managed name in a loop: their latency during the
 * burst is printed (median, 99th percentile, worst) and none may fail (no event-loop stall: the handshake path
 * posts and goes on). Printed and bounded too: the tree's memory per on-demand name (PSS of master, workers and
 * the manager process, before the burst and after; the bounds are at memory_within_bound).
 * BURST_N is 100 in make test (a few seconds of issuance); AUTOTLS_TEST_BURST_N=2000 is the acceptance's figure
 * (scripts/bench_sites.sh runs it in make bench).
 */
#include "tests/harness/proc.h"
#include "tests/harness/procfs.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shim_env env;
static int burst_n = 100;

static long pss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = 0;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* The inode of the region's memfd a process holds open, 0: none. */
static ino_t region_ino(pid_t pid)
{
	char dpath[64], lpath[320], link[256];
	snprintf(dpath, sizeof(dpath), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dpath);
	struct dirent *e;
	ino_t ino = 0;
	while (d && ino == 0 && (e = readdir(d)) != NULL) {
		snprintf(lpath, sizeof(lpath), "%s/%s", dpath, e->d_name);
		ssize_t n = readlink(lpath, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		struct stat st;
		if ((strcmp(link, "/memfd:autotls") == 0 || strncmp(link, "/memfd:autotls (", 16) == 0) &&
		    stat(lpath, &st) == 0)
			ino = st.st_ino;
	}
	if (d)
		closedir(d);
	return ino;
}

/* PSS summed over the server's process group and the manager process (the one holding the same region). */
static long tree_pss_kb(int *nprocs)
{
	pid_t members[32];
	int n = procfs_group_members(env.srv.pgid, members, 32);
	long sum = 0;
	for (int i = 0; i < n; i++)
		sum += pss_kb(members[i]);
	ino_t ino = region_ino(env.srv.pid);
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (ino != 0 && d && (e = readdir(d)) != NULL) {
		pid_t p = (pid_t)atoi(e->d_name);
		int member = 0;
		for (int i = 0; i < n; i++)
			member |= members[i] == p;
		if (p > 0 && !member && region_ino(p) == ino) {
			sum += pss_kb(p);
			n++;
		}
	}
	if (d)
		closedir(d);
	*nprocs = n;
	return sum;
}

struct probe {
	atomic_int stop;
	long ms[200000];
	int n, failed;
};

static void *managed_loop(void *arg)
{
	struct probe *p = arg;
	while (!atomic_load(&p->stop) && p->n < (int)(sizeof(p->ms) / sizeof(p->ms[0]))) {
		long t0 = harness_now_ms();
		if (shim_try_verified(&env, SHIM_NAME, NULL, 0, NULL) == 0)
			p->ms[p->n++] = harness_now_ms() - t0;
		else
			p->failed++;
		harness_sleep_ms(5);
	}
	return NULL;
}

static int by_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

static void name_of(char *out, size_t cap, int i)
{
	snprintf(out, cap, "b%d.burst.test", i);
}

/*
 * Memory per on-demand name, bounded (acceptance 5: "within the bench's bound"). Two figures, two bounds:
 *   - settled (make bench, 2,000 names, 65 s after the burst, the retired name tables freed): measured 19.5 and
 *     21.7 KiB a name in two runs; bound SETTLED_KIB_MAX, about twice that, from SETTLED_N names on (below, the
 *     burst's one-time cost spread over few names weighs too much). A name's lasting cost (its record,
 *     certificate and key in the manager, its entry in the region) nearly doubling, or retired copies never
 *     freed (about 200 KiB a name at 2,000), trips it.
 *   - just after the burst, at make test's size (at most JUST_AFTER_N names): measured 68.6 KiB a name at 100.
 *     At that size the figure is mostly what the burst costs once (the manager's threads and arenas touched,
 *     the region grown) spread over few names, so its bound, JUST_AFTER_KIB_MAX, is loose: 16 MiB over the tree
 *     for 100 names. It trips on a cost of about 100 KiB a name more (a TLS context or a copy of the region per
 *     name, a snapshot retired per name and kept), not on a small leak; that is the settled bound's job. Above
 *     JUST_AFTER_N the just-after figure is not bounded: the retired copies of the name table, alive for the
 *     cache's 30 s grace, grow with the square of the names (195-225 KiB a name at 2,000).
 * Not checked under a sanitizer (its shadow memory and quarantine are most of the figure).
 */
#define SETTLED_KIB_MAX 40.0
#define JUST_AFTER_KIB_MAX 160.0
#define JUST_AFTER_N 200
#define SETTLED_N 1000

static void memory_within_bound(long grown_kb, long settled_kb)
{
	char lib[PATH_MAX], pre[2 * PATH_MAX];
	int sanitized = 0;
	if (harness_shim_lib_path(lib, sizeof(lib)) != 0 || harness_preload_value(pre, sizeof(pre), lib, &sanitized) != 0 ||
	    sanitized) {
		printf("  memory per name not bounded (a sanitized build)\n");
		return;
	}
	double just = (double)grown_kb / (double)burst_n, settled = (double)settled_kb / (double)burst_n;
	if (burst_n <= JUST_AFTER_N) {
		printf("  bound just after the burst: %.1f KiB a name (%d names)\n", JUST_AFTER_KIB_MAX, burst_n);
		CHECK(just <= JUST_AFTER_KIB_MAX);
	}
	if (settled_kb >= 0 && burst_n >= SETTLED_N) {
		printf("  bound once settled: %.1f KiB a name\n", SETTLED_KIB_MAX);
		CHECK(settled <= SETTLED_KIB_MAX);
	}
}

static void burst_all_issued(void)
{
	int procs0 = 0, procs1 = 0;
	long pss0 = tree_pss_kb(&procs0);
	int orders0 = pebble_count_orders(&env.p);
	static struct probe p;
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, managed_loop, &p) == 0);
	harness_sleep_ms(300);
	long t0 = harness_now_ms();
	struct tls_client_result r;
	char name[64];
	tls_verify_quiet = 1;
	for (int i = 0; i < burst_n; i++) {
		name_of(name, sizeof(name), i);
		tls_client_connect(env.port, name, NULL, 0, NULL, NULL, &r); /* the server's own certificate, a post */
	}
	long posted_ms = harness_now_ms() - t0;
	/* Every name polled until it verifies (a request the ring or queue dropped is posted again this way). */
	char *done = calloc((size_t)burst_n, 1);
	int ndone = 0;
	long limit = 60000 + (long)burst_n * 500;
	while (done && ndone < burst_n && harness_now_ms() - t0 < limit) {
		for (int i = 0; i < burst_n; i++) {
			if (done[i])
				continue;
			name_of(name, sizeof(name), i);
			if (tls_client_connect(env.port, name, NULL, 0, env.p.issuing_root_file, NULL, &r) == 0) {
				done[i] = 1;
				ndone++;
			}
		}
		if (ndone < burst_n)
			harness_sleep_ms(200);
	}
	tls_verify_quiet = 0;
	long all_ms = harness_now_ms() - t0;
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);
	free(done);
	harness_sleep_ms(1000);
	long pss1 = tree_pss_kb(&procs1);
	int orders = pebble_count_orders(&env.p) - orders0;
	qsort(p.ms, (size_t)p.n, sizeof(p.ms[0]), by_long);
	long med = p.n ? p.ms[p.n / 2] : -1, p99 = p.n ? p.ms[(p.n * 99) / 100] : -1, worst = p.n ? p.ms[p.n - 1] : -1;
	printf("  %d new names posted in %ld ms; all %d/%d issued and verified in %ld ms (%.1f a second), %d orders\n",
	       burst_n, posted_ms, ndone, burst_n, all_ms, all_ms > 0 ? 1000.0 * ndone / (double)all_ms : 0.0, orders);
	printf("  the managed name during the burst: %d handshakes, %d failed; latency median %ld ms, p99 %ld ms, worst "
	       "%ld ms\n", p.n + p.failed, p.failed, med, p99, worst);
	printf("  PSS over the tree (%d processes): %ld kB before, %ld kB just after: %.1f KiB per on-demand name\n", procs1,
	       pss0, pss1, (double)(pss1 - pss0) / (double)burst_n);
	/* Settled: the snapshots and parsed entries the burst retired are freed after the cache's grace (30 s, 60 s
	 * for parsed entries); make bench waits it out (AUTOTLS_TEST_BURST_SETTLE_S=65), make test does not. */
	const char *settle = getenv("AUTOTLS_TEST_BURST_SETTLE_S");
	long pss2 = -1;
	if (settle != NULL && atoi(settle) > 0) {
		harness_sleep_ms(1000L * atoi(settle));
		pss2 = tree_pss_kb(&procs1);
		printf("  PSS over the tree %s s later (retired snapshots freed): %ld kB: %.1f KiB per on-demand name\n",
		       settle, pss2, (double)(pss2 - pss0) / (double)burst_n);
	}
	printf("BENCH ondemand_burst n=%d all_ms=%ld per_s=%.1f orders=%d hs_median_ms=%ld hs_p99_ms=%ld hs_worst_ms=%ld "
	       "hs_failed=%d kib_per_name=%.1f kib_per_name_settled=%.1f\n", burst_n, all_ms,
	       all_ms > 0 ? 1000.0 * ndone / (double)all_ms : 0.0, orders, med, p99, worst, p.failed,
	       (double)(pss1 - pss0) / (double)burst_n, pss2 >= 0 ? (double)(pss2 - pss0) / (double)burst_n : -1.0);
	CHECK_INT(ndone, ==, burst_n);
	CHECK_INT(orders, ==, burst_n);
	memory_within_bound(pss1 - pss0, pss2 >= 0 ? pss2 - pss0 : -1);
	CHECK_INT(p.failed, ==, 0);
	CHECK(p.n > 10);
	/* No stall: a handshake of the managed name never waited for an issuance (seconds); 1 s is generous on
	 * two loaded cores, and the median stays that of an idle server. */
	CHECK(worst < 1000);
}

int main(void)
{
	const char *v = getenv("AUTOTLS_TEST_BURST_N");
	if (v && atoi(v) > 0)
		burst_n = atoi(v);
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.burst.test";
	shim_env_extra[2] = "AUTOTLS_ON_DEMAND_RATE=6000";
	long t0 = harness_now_ms();
	int ok = shim_env_start(&env, SERVER_NGINX) == 0 && shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0;
	if (!ok)
		return shim_env_setup_failed(&env, __FILE__);
	printf("  setup (Pebble, nginx, the managed name): %ld ms\n", harness_now_ms() - t0);
	RUN(burst_all_issued);
	return shim_env_exit(&env);
}
