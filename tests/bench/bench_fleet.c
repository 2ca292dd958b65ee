/*
 * make bench, issue 11 (acceptance 6): a fleet on etcd against one host.
 *
 * 1. Time to the first certificate. Each run starts what it needs (a real three-member etcd on loopback, Pebble,
 *    the hosts: nginx, master + 2 workers, under the shim, each its own process tree and state folder) with the
 *    engine's issue lock held from here (as test_907 does: no validation may come before every host listens),
 *    and times two spans: the hosts' start until every one is ready (watching the store; on a folder, its
 *    manager leading), and the lock let go until every host serves a certificate that verifies (an order,
 *    TLS-ALPN-01 through HAProxy on Pebble's tlsPort answered by whichever host it reaches, finalize, and the
 *    propagation by watch to every host). Three hosts behind HAProxy (test_907's set-up) against one host behind
 *    the same HAProxy on the same kind of etcd, and one host on a folder store (the baseline before issue 11);
 *    RUNS runs of each, interleaved, medians printed with the ratios.
 * 2. etcd requests per renewal, counted by etcd itself: the sum over the three members of
 *    grpc_server_msg_received_total (every unary request, every keepalive on a lease stream, every watch
 *    create; the JSON gateway hands each request to the member's gRPC server) from each member's /metrics. On
 *    the last three-host fleet: an idle window of IDLE_S (the leader's lease keepalives, the followers' tries
 *    for the fleet lock, their watches) and then RENEWALS forced renewals (`autotls renew --force` on the
 *    leader, each until every host serves the new serial). Requests per renewal = (the renewals' window less
 *    the idle rate over the same time) / RENEWALS; the idle rate is printed apart, per host, and both by method.
 *    The same on the last one-host fleet, for the ratio and what each follower adds.
 *
 * BENCH_FLEET_RUNS (default 3) and BENCH_FLEET_RENEWALS (default 3) change the counts; BENCH_FLEET_IDLE_S
 * (default IDLE_S) the idle window (over 30 s, it takes in the followers' safety tries for the fleet lock,
 * shim/manager/fleet_watch.c).
 */
#include "store/store.h"
#include "tests/harness/command.h"
#include "tests/harness/fleet.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS_DEFAULT 3
#define RENEWALS_DEFAULT 3
#define IDLE_S 10
#define READY_MS 15000
#define METRICS_MAX (4 * 1024 * 1024)
#define METHODS_MAX 48
#define CHALLENGES "AUTOTLS_CHALLENGES=tls-alpn-01"

struct counts {
	int n;
	char method[METHODS_MAX][40];
	double v[METHODS_MAX];
};

struct body {
	char *p;
	size_t len;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *ctx)
{
	struct body *b = ctx;
	size_t n = sz * nm;
	if (b->len + n + 1 > METRICS_MAX)
		return 0; /* over the cap: the transfer fails */
	char *q = realloc(b->p, b->len + n + 1);
	if (q == NULL)
		return 0;
	b->p = q;
	memcpy(b->p + b->len, d, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static void count_add(struct counts *c, const char *method, double v)
{
	for (int i = 0; i < c->n; i++) {
		if (strcmp(c->method[i], method) == 0) {
			c->v[i] += v;
			return;
		}
	}
	if (c->n < METHODS_MAX) {
		snprintf(c->method[c->n], sizeof c->method[c->n], "%s", method);
		c->v[c->n++] = v;
	}
}

static double count_get(const struct counts *c, const char *method)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->method[i], method) == 0)
			return c->v[i];
	return 0;
}

static double count_total(const struct counts *c)
{
	double t = 0;
	for (int i = 0; i < c->n; i++)
		t += c->v[i];
	return t;
}

/* Adds one member's grpc_server_msg_received_total, by method, to c. 0 or -1. */
static int scrape_member(int port, struct counts *c)
{
	char url[64];
	struct body b = { 0 };
	snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
	CURL *h = curl_easy_init();
	if (h == NULL)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	if (rc != CURLE_OK || b.p == NULL) {
		free(b.p);
		return -1;
	}
	const char *key = "grpc_server_msg_received_total{";
	for (char *line = b.p; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *m = strncmp(line, key, strlen(key)) == 0 ? strstr(line, "grpc_method=\"") : NULL;
		char *sp = strrchr(line, ' ');
		if (m && sp) {
			m += strlen("grpc_method=\"");
			char *end = strchr(m, '"');
			if (end) {
				*end = '\0';
				count_add(c, m, strtod(sp + 1, NULL));
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	free(b.p);
	return 0;
}

/* Every running member's counts summed into c (zeroed first). 0 or -1. */
static int scrape(const struct etcd_cluster *cl, struct counts *c)
{
	memset(c, 0, sizeof *c);
	for (int i = 0; i < ETCD_MEMBERS; i++)
		if (cl->pid[i] > 0 && scrape_member(cl->client_port[i], c) != 0)
			return -1;
	return 0;
}

/* after - before, by method, into d. */
static void count_diff(const struct counts *after, const struct counts *before, struct counts *d)
{
	memset(d, 0, sizeof *d);
	for (int i = 0; i < after->n; i++)
		count_add(d, after->method[i], after->v[i] - count_get(before, after->method[i]));
}

/* "Method n, ..." for the methods that moved, each divided by div. */
static void print_methods(const char *what, const struct counts *d, double div)
{
	printf("  %s:", what);
	int any = 0;
	for (int i = 0; i < d->n; i++) {
		if (d->v[i] / div < 0.005)
			continue;
		printf("%s %s %.2f", any++ ? "," : "", d->method[i], d->v[i] / div);
	}
	printf("%s\n", any ? "" : " none");
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return x < y ? -1 : x > y;
}

static long median(long *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_long);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One run of hosts nginx hosts on a fresh etcd behind HAProxy: the spans into *ready and *cert (ms). With keep,
 * the fleet is left running in *kept (the caller stops it); else stopped. 0 or -1. */
static int etcd_run(int hosts, int run, long *ready, long *cert, struct fleet **kept)
{
	struct shim_env *env = calloc(1, sizeof *env);
	struct fleet *f = calloc(1, sizeof *f);
	char prefix[32], first[80] = "", serial[80];
	int ok = 0;
	if (env == NULL || f == NULL) {
		free(env);
		free(f);
		return -1;
	}
	f->env = env;
	snprintf(prefix, sizeof prefix, "bench%d-%d", hosts, run);
	if (fleet_etcd_start(f, prefix) != 0 || fleet_prepare(f, NULL, CHALLENGES) != 0)
		goto out;
	long t0 = harness_now_ms();
	if (fleet_behind_haproxy(f, hosts) < 0)
		goto out;
	*ready = harness_now_ms() - t0;
	long t1 = harness_now_ms();
	if (fleet_release_issue(f) != 0)
		goto out;
	for (int h = 0; h < hosts; h++) {
		if (fleet_wait_serial(env, f->host[h].port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial, sizeof serial) < 0)
			goto out;
		if (h == 0)
			snprintf(first, sizeof first, "%s", serial);
		else if (strcmp(serial, first) != 0)
			goto out;
	}
	*cert = harness_now_ms() - t1;
	ok = pebble_count_orders(&env->p) == 1;
out:
	if (!ok) {
		fprintf(stderr, "bench_fleet: the %d-host run %d failed\n", hosts, run);
		fleet_dump(f);
	}
	if (ok && kept != NULL) {
		*kept = f;
		return 0;
	}
	fleet_stop(f);
	free(f);
	free(env);
	return ok ? 0 : -1;
}

/* One run of one nginx host on a folder store, the issue lock held the same way. 0 or -1. */
static int folder_run(long *ready, long *cert)
{
	struct shim_env env;
	struct at_store *hold = NULL;
	char serial[80];
	int ok = 0;
	memset(&env, 0, sizeof env);
	shim_env_extra[0] = CHALLENGES;
	int rc = shim_env_prepare(&env, SERVER_NGINX);
	shim_env_extra[0] = NULL;
	if (rc != 0 || at_store_open(&hold, env.store, (gid_t)-1) != 0 ||
	    at_store_lock(hold, "issue-" SHIM_NAME, 30, 0) != 0)
		goto out;
	long t0 = harness_now_ms();
	if (shim_env_server_start(&env) != 0 || fleet_log_wait(env.log, "managing certificates", READY_MS) != 0)
		goto out;
	while (!harness_tcp_connects(env.port) && harness_now_ms() - t0 < READY_MS)
		harness_sleep_ms(5);
	*ready = harness_now_ms() - t0;
	long t1 = harness_now_ms();
	if (at_store_unlock(hold, "issue-" SHIM_NAME) != 0)
		goto out;
	if (fleet_wait_serial(&env, env.port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial, sizeof serial) < 0)
		goto out;
	*cert = harness_now_ms() - t1;
	ok = pebble_count_orders(&env.p) == 1;
out:
	if (!ok) {
		fprintf(stderr, "bench_fleet: the folder run failed\n");
		shim_env_dump(&env);
	}
	if (hold != NULL)
		at_store_close(hold);
	shim_env_stop(&env);
	return ok ? 0 : -1;
}

/* `autotls renew --force` through the leader's control socket (in its state folder), then every host serving
 * the new serial. The new serial into serial; 0 or -1. */
static int forced_renewal(struct fleet *f, int lead, const char *cli, char *serial, size_t cap)
{
	char cmd[3 * PATH_MAX + 800], out[4096], s[80];
	struct shim_env *env = f->env;
	snprintf(cmd, sizeof cmd, "env AUTOTLS_STORAGE=%s %s AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s AUTOTLS_DOMAINS=%s %s "
				  "renew --force %s 2>&1",
		 f->spec, f->host[lead].e_state, env->p.directory_url, env->ca_roots, SHIM_NAME, cli, SHIM_NAME);
	if (harness_command(cmd, out, sizeof out) != 0) {
		fprintf(stderr, "bench_fleet: autotls renew: %s\n", out);
		return -1;
	}
	char old[80];
	snprintf(old, sizeof old, "%s", serial);
	for (int h = 0; h < f->n; h++) {
		if (fleet_wait_serial(env, f->host[h].port, old, 10000, s, sizeof s) < 0)
			return -1;
		if (h == 0)
			snprintf(serial, cap, "%s", s);
	}
	return 0;
}

/* Stops a kept fleet and frees it and its env (NULL: nothing). */
static void fleet_free(struct fleet *f)
{
	if (f == NULL)
		return;
	struct shim_env *env = f->env;
	fleet_stop(f);
	free(f);
	free(env);
}

/* The idle window, then n forced renewals, on f: printed; requests per renewal into *per_out. 0 or -1. */
static int renewals(struct fleet *f, int n, double *per_out)
{
	struct counts c0, c1, c2, idle, ren;
	char serial[80] = "", cli[PATH_MAX], rel[PATH_MAX];
	const char *build = getenv("BUILD");
	snprintf(rel, sizeof rel, "%s/autotls", build && *build ? build : "build");
	int lead = fleet_leader(f);
	if (lead < 0 || realpath(rel, cli) == NULL)
		return -1;
	if (fleet_wait_serial(f->env, f->host[0].port, NULL, 5000, serial, sizeof serial) < 0)
		return -1;
	int orders0 = pebble_count_orders(&f->env->p);
	/* Idle: what three hosts cost etcd with nothing to do. */
	if (scrape(&f->cl, &c0) != 0)
		return -1;
	long t0 = harness_now_ms();
	const char *is = getenv("BENCH_FLEET_IDLE_S");
	harness_sleep_ms((is && atoi(is) > 0 ? atoi(is) : IDLE_S) * 1000L);
	if (scrape(&f->cl, &c1) != 0)
		return -1;
	double idle_s = (double)(harness_now_ms() - t0) / 1000.0;
	long t1 = harness_now_ms();
	for (int i = 0; i < n; i++)
		if (forced_renewal(f, lead, cli, serial, sizeof serial) != 0)
			return -1;
	if (scrape(&f->cl, &c2) != 0)
		return -1;
	double ren_s = (double)(harness_now_ms() - t1) / 1000.0;
	int orders = pebble_count_orders(&f->env->p) - orders0;
	count_diff(&c1, &c0, &idle);
	count_diff(&c2, &c1, &ren);
	double idle_rate = count_total(&idle) / idle_s;
	double per = (count_total(&ren) - idle_rate * ren_s) / n;
	printf("etcd requests (grpc_server_msg_received_total summed over the 3 members), %d host%s, idle %.1f s: %.0f, "
	       "%.1f per second, %.2f per second per host\n", f->n, f->n == 1 ? "" : "s", idle_s, count_total(&idle),
	       idle_rate, idle_rate / f->n);
	print_methods("idle, per second per host, by method", &idle, idle_s * f->n);
	printf("etcd requests during %d forced renewals (%d orders at Pebble, %.1f s, each until every one of %d "
	       "host(s) served the new serial): %.0f; less the idle rate over the same time: %.1f per renewal\n", n,
	       orders, ren_s, f->n, count_total(&ren), per);
	/* By method, the idle share taken out likewise. */
	struct counts net = ren;
	for (int i = 0; i < net.n; i++)
		net.v[i] -= count_get(&idle, net.method[i]) / idle_s * ren_s;
	print_methods("per renewal, by method (idle share taken out)", &net, n);
	*per_out = per;
	return orders == n ? 0 : -1;
}

int main(void)
{
	const char *r = getenv("BENCH_FLEET_RUNS"), *nr = getenv("BENCH_FLEET_RENEWALS");
	int runs = r && atoi(r) > 0 ? atoi(r) : RUNS_DEFAULT, nren = nr && atoi(nr) > 0 ? atoi(nr) : RENEWALS_DEFAULT;
	long ready3[16], cert3[16], ready1[16], cert1[16], readyf[16], certf[16];
	struct fleet *kept = NULL, *kept1 = NULL;
	double per3 = 0, per1 = 0;
	int rc = 1;
	if (runs > 16)
		runs = 16;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < runs; i++) {
		if (etcd_run(3, i, &ready3[i], &cert3[i], i == runs - 1 ? &kept : NULL) != 0 ||
		    etcd_run(1, i, &ready1[i], &cert1[i], i == runs - 1 ? &kept1 : NULL) != 0 ||
		    folder_run(&readyf[i], &certf[i]) != 0)
			goto out;
		printf("  run %d: lock let go to every host serving: 3 hosts %ld ms, 1 host %ld ms, folder %ld ms; "
		       "start to ready: %ld, %ld, %ld ms\n", i + 1, cert3[i], cert1[i], certf[i], ready3[i], ready1[i],
		       readyf[i]);
		fflush(stdout);
	}
	long c3 = median(cert3, runs), c1 = median(cert1, runs), cf = median(certf, runs);
	long r3 = median(ready3, runs), r1 = median(ready1, runs), rf = median(readyf, runs);
	printf("time to the first certificate on every host (issue lock let go to the last host serving it, median "
	       "of %d): 3 hosts on etcd %ld ms, 1 host on etcd %ld ms: ratio %.2f; 1 host on a folder store %ld ms: "
	       "etcd/folder %.2f, 3 hosts/folder %.2f\n", runs, c3, c1, (double)c3 / (double)c1, cf,
	       (double)c1 / (double)cf, (double)c3 / (double)cf);
	printf("hosts started to every host ready (watching the store; on a folder, leading), median: 3 hosts %ld ms, "
	       "1 host %ld ms: ratio %.2f; folder %ld ms\n", r3, r1, (double)r3 / (double)r1, rf);
	printf("start to the first certificate on every host (the two spans): 3 hosts %ld ms, 1 host %ld ms: ratio "
	       "%.2f; folder %ld ms\n", r3 + c3, r1 + c1, (double)(r3 + c3) / (double)(r1 + c1), rf + cf);
	fflush(stdout);
	if (renewals(kept, nren, &per3) != 0) {
		fprintf(stderr, "bench_fleet: the renewals failed\n");
		fleet_dump(kept);
		goto out;
	}
	if (renewals(kept1, nren, &per1) != 0) {
		fprintf(stderr, "bench_fleet: the renewals failed\n");
		fleet_dump(kept1);
		goto out;
	}
	printf("etcd requests per renewal: 3 hosts %.1f, 1 host %.1f: ratio %.2f, %.1f more per follower\n", per3, per1,
	       per3 / per1, (per3 - per1) / 2);
	rc = 0;
out:
	fleet_free(kept);
	fleet_free(kept1);
	curl_global_cleanup();
	return rc;
}
