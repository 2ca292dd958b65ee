/*
 * On-demand issuance under `openssl s_server` (AUTOTLS_ON_DEMAND=1, AUTOTLS_ALLOW=*.od.example.test): a name
 * first seen in a handshake gets the server's own certificate at once and a Pebble certificate on a later
 * handshake; 10,000 handshakes with names outside the policy (and names that cannot qualify) place no order
 * and leave the server's memory flat; a burst of 100 allowed names is held to the limit (20 at once, then 10 a
 * minute). With AUTOTLS_ASK, the ask URL is called at most once per name while its answer is cached, and a
 * refused name is never ordered. nginx keeps serving its managed name without a stall while new names are issued.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Handshakes for name until it verifies against Pebble's root, up to ms; the time it took or -1. */
static long until_verified(struct shim_env *env, const char *name, long ms)
{
	long t0 = harness_now_ms();
	struct tls_client_result r;
	tls_verify_quiet = 1;
	while (harness_now_ms() - t0 < ms) {
		if (tls_client_connect(env->port, name, NULL, 0, env->p.issuing_root_file, NULL, &r) == 0) {
			tls_verify_quiet = 0;
			return harness_now_ms() - t0;
		}
		harness_sleep_ms(100);
	}
	tls_verify_quiet = 0;
	return -1;
}

static void allowlist(void)
{
	struct shim_env env;
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	REQUIRE(started);
	REQUIRE(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	int orders = pebble_count_orders(&env.p);

	/* A new allowed name: the placeholder now, a certificate on a later handshake. */
	struct tls_client_result r;
	memset(&r, 0, sizeof(r));
	long f0 = harness_now_ms();
	CHECK_OK(tls_client_connect(env.port, "n1.od.example.test", NULL, 0, NULL, NULL, &r));
	fprintf(stderr, "  without AUTOTLS_ON_DEMAND_WAIT: the first handshake for a new name took %ld ms (the "
		"server's own certificate)\n", harness_now_ms() - f0);
	CHECK(strstr(r.subject, SERVER_PLACEHOLDER_CN) != NULL);
	long ms = until_verified(&env, "n1.od.example.test", 15000);
	fprintf(stderr, "  n1.od.example.test verified %ld ms after its first handshake\n", ms);
	CHECK(ms >= 0);
	CHECK_INT(pebble_count_orders(&env.p), ==, orders + 1);
	orders = pebble_count_orders(&env.p);

	/* 10,000 handshakes outside the policy or unable to qualify: no order, memory flat. */
	long before = rss_kb(env.srv.pid);
	/* outside the policy, or unable to qualify at all */
	static const char *const junk[] = { "x.other.test", "nodot", "localhost", "x.localhost", "1.2",
					    "y.sub.od.example.test", "od.example.test" };
	char name[128];
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "%d%s", i, junk[i % 7]);
		tls_verify_quiet = 1;
		tls_client_connect(env.port, name, NULL, 0, NULL, NULL, &r);
		tls_verify_quiet = 0;
	}
	harness_sleep_ms(1500);
	long after = rss_kb(env.srv.pid);
	fprintf(stderr, "  10,000 junk handshakes: server RSS %ld kB -> %ld kB, orders %d -> %d\n", before, after,
		orders, pebble_count_orders(&env.p));
	CHECK_INT(pebble_count_orders(&env.p), ==, orders);
	CHECK(after - before < 1024);
	CHECK(!shim_log_has(&env, "other.test"));
	CHECK(!shim_log_has(&env, "nodot"));

	/* A burst of 100 allowed names: 20 at once (n1 took one token already), then 10 a minute. */
	long b0 = harness_now_ms();
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "b%d.od.example.test", i);
		tls_client_connect(env.port, name, NULL, 0, NULL, NULL, &r);
		harness_sleep_ms(20);
	}
	harness_sleep_ms(8000);
	int burst = pebble_count_orders(&env.p) - orders;
	long limit = 19 + (harness_now_ms() - b0) / 6000 + 1;
	fprintf(stderr, "  burst of 100 names: %d orders in %ld ms (the bucket allows %ld)\n", burst, harness_now_ms() - b0,
		limit);
	CHECK(burst >= 10);
	CHECK(burst <= limit);
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

/* A threaded server that chose AUTOTLS_ON_DEMAND_WAIT: the first handshake for a new name waits for it. */
static void threaded_server_waits(void)
{
	struct shim_env env;
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	setenv("AUTOTLS_ON_DEMAND_WAIT", "10", 1); /* the third setting: the harness passes our environment on */
	int started = shim_env_start(&env, SERVER_PYTHON) == 0;
	unsetenv("AUTOTLS_ON_DEMAND_WAIT");
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	REQUIRE(started);
	REQUIRE(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	struct tls_client_result r;
	long t0 = harness_now_ms();
	int ok = tls_client_connect(env.port, "w1.od.example.test", NULL, 0, env.p.issuing_root_file, NULL, &r) == 0;
	long took = harness_now_ms() - t0;
	fprintf(stderr, "  with AUTOTLS_ON_DEMAND_WAIT=10 (python, threaded): the first handshake for a new name "
		"verified: %s, after %ld ms\n", ok ? "yes" : "no", took);
	CHECK(ok);
	CHECK(took < 10000);
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

/* nginx keeps serving while new names are issued: issuance runs in the manager process, never on a worker. */
static void nginx_no_stall(void)
{
	struct shim_env env;
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	int started = shim_env_start(&env, SERVER_NGINX) == 0;
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	REQUIRE(started);
	REQUIRE(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	struct tls_client_result r;
	char name[64];
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "s%d.od.example.test", i);
		tls_client_connect(env.port, name, NULL, 0, NULL, NULL, &r);
	}
	long worst = 0;
	int failed = 0;
	for (int i = 0; i < 300; i++) {
		long t0 = harness_now_ms();
		failed += tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, &r) != 0;
		long d = harness_now_ms() - t0;
		worst = d > worst ? d : worst;
	}
	int issued = until_verified(&env, "s9.od.example.test", 15000) >= 0;
	fprintf(stderr, "  nginx while 10 names were issued: 300 handshakes, %d failed, slowest %ld ms\n", failed,
		worst);
	CHECK_INT(failed, ==, 0);
	CHECK(worst < 500);
	CHECK(issued);
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

static void ask_url(void)
{
	char dir[] = "/tmp/autotls-ask-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char script[PATH_MAX], log[PATH_MAX], port_s[16], e_ask[128];
	snprintf(script, sizeof(script), "%s/ask.py", dir);
	snprintf(log, sizeof(log), "%s/asked.log", dir);
	FILE *f = fopen(script, "w");
	REQUIRE(f != NULL);
	fprintf(f, "import http.server, sys, urllib.parse\n"
		   "class H(http.server.BaseHTTPRequestHandler):\n"
		   "    def log_message(self, *a): pass\n"
		   "    def do_GET(self):\n"
		   "        d = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get('domain', [''])[0]\n"
		   "        open(sys.argv[2], 'a').write(d + '\\n')\n"
		   "        self.send_response(200 if d.startswith('yes') else 403)\n"
		   "        self.send_header('Content-Length', '0')\n"
		   "        self.end_headers()\n"
		   "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n");
	fclose(f);
	int ask_port = harness_free_port();
	snprintf(port_s, sizeof(port_s), "%d", ask_port);
	pid_t ask = fork();
	REQUIRE(ask >= 0);
	if (ask == 0) {
		execlp("python3", "python3", script, port_s, log, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200 && !harness_tcp_connects(ask_port); i++)
		harness_sleep_ms(25);
	struct shim_env env;
	snprintf(e_ask, sizeof(e_ask), "AUTOTLS_ASK=http://127.0.0.1:%d/check", ask_port);
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = e_ask;
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	CHECK(started);
	if (started && shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0) {
		int orders = pebble_count_orders(&env.p);
		struct tls_client_result r;
		for (int i = 0; i < 5; i++) {
			tls_client_connect(env.port, "yes1.ask.example.test", NULL, 0, NULL, NULL, &r);
			tls_client_connect(env.port, "no1.ask.example.test", NULL, 0, NULL, NULL, &r);
			tls_client_connect(env.port, "nodot", NULL, 0, NULL, NULL, &r);
			harness_sleep_ms(100);
		}
		CHECK(until_verified(&env, "yes1.ask.example.test", 15000) >= 0);
		for (int i = 0; i < 5; i++)
			tls_client_connect(env.port, "no1.ask.example.test", NULL, 0, NULL, NULL, &r);
		harness_sleep_ms(1000);
		size_t n = 0;
		char *asked = harness_read_file(log, &n);
		int yes = 0, no = 0, nodot = 0;
		for (char *l = asked ? strtok(asked, "\n") : NULL; l; l = strtok(NULL, "\n")) {
			yes += strcmp(l, "yes1.ask.example.test") == 0;
			no += strcmp(l, "no1.ask.example.test") == 0;
			nodot += strcmp(l, "nodot") == 0;
		}
		free(asked);
		fprintf(stderr, "  ask URL calls: yes1 %d, no1 %d, nodot %d; orders %d -> %d\n", yes, no, nodot, orders,
			pebble_count_orders(&env.p));
		CHECK_INT(yes, ==, 1);
		CHECK_INT(no, ==, 1);
		CHECK_INT(nodot, ==, 0);
		CHECK_INT(pebble_count_orders(&env.p), ==, orders + 1);
	}
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
	kill(ask, SIGTERM);
	waitpid(ask, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", dir);
}

int main(void)
{
	RUN(allowlist);
	RUN(nginx_no_stall);
	RUN(threaded_server_waits);
	RUN(ask_url);
	return TEST_EXIT();
}
