/*
 * The CA is down when the server starts: Pebble is started (for its ports and roots) and killed before
 * s_server starts under the shim. The server serves its own placeholder from the first handshake; the manager's
 * first order fails (logged as an error with the next try) and is retried on its back-off
 * (AUTOTLS_TEST_BACKOFF_SCALE=60: 1 s, 10 s, ...); once Pebble is back (pebble_restart: same ports, new roots)
 * the managed certificate is served, verified against the new root, within that back-off.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

static struct shim_env env;
static int prepared, started, issued;
static long t_start;

static void placeholder_from_the_first_second(void)
{
	struct tls_client_result r;

	REQUIRE(prepared);
	CHECK_OK(pebble_kill(&env.p));
	t_start = harness_now_ms();
	started = shim_env_server_start(&env) == 0;
	REQUIRE(started);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.serial, env.srv.serial);
	fprintf(stderr, "  placeholder served %ld ms after the start\n", harness_now_ms() - t_start);
}

static void failure_logged_and_placeholder_kept(void)
{
	struct tls_client_result r;

	REQUIRE(started);
	long ms = shim_log_wait(&env, "error:", "failed", 1, 10000);
	CHECK(ms >= 0);
	shim_log_print(&env, "error:", 4);
	CHECK(shim_log_count(&env, "error:", "next try in") >= 1);
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.serial, env.srv.serial);
	CHECK_INT(shim_try(&env, env.p.issuing_root_file, &r), ==, -1);
}

static void issues_once_the_ca_is_back(void)
{
	char serial[80];

	REQUIRE(started);
	/* Let the first retry (1 s) fail too, so the certificate comes on the second step of the back-off. */
	harness_sleep_ms(1500);
	int failures = shim_log_count(&env, "error:", "next try in");
	long t_up = harness_now_ms();
	REQUIRE(pebble_restart(&env.p) == 0);
	fprintf(stderr, "  Pebble back %ld ms after the server's start (%d failed tries so far)\n", t_up - t_start,
		failures);
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, 30000, serial, sizeof(serial));
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	issued = 1;
	fprintf(stderr, "  managed certificate verified %ld ms after Pebble came back (%ld ms after the start)\n", ms,
		harness_now_ms() - t_start);
	/* Within the back-off in force when Pebble came back (10 s after the second failure), plus the order. */
	CHECK_INT(ms, <=, 15000);
	CHECK(strcmp(serial, env.srv.serial) != 0);
	CHECK(shim_log_has(&env, "obtained a certificate for " SHIM_NAME));
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
}

static void restart_reuses_the_store(void)
{
	REQUIRE(issued);
	shim_check_restart(&env);
}

static void log_hygiene(void)
{
	REQUIRE(started);
	shim_check_log(&env);
}

int main(void)
{
	prepared = shim_env_prepare_fault(&env, SERVER_S_SERVER, NULL) == 0;
	RUN(placeholder_from_the_first_second);
	RUN(failure_logged_and_placeholder_kept);
	RUN(issues_once_the_ca_is_back);
	RUN(restart_reuses_the_store);
	RUN(log_hygiene);
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
	return TEST_EXIT();
}
