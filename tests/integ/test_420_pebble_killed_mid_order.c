/*
 * Faults during an order, s_server under the shim:
 *   - Pebble rejecting 90 % of good nonces (PEBBLE_WFE_NONCEREJECT=90): the certificate still comes (the
 *     client signs again with a fresh nonce, and the manager's back-off covers an order that runs out of
 *     retries), and the log shows the retries;
 *   - Pebble killed while the order is in flight (at once after the log says "obtaining", with the mock DNS
 *     held so that the validation cannot finish first): the failure is one
 *     error line with the next try, and after pebble_restart (same ports, new roots, an empty database: the
 *     account must be registered again) the certificate arrives on the back-off
 *     (AUTOTLS_TEST_BACKOFF_SCALE=60: 1 s, 10 s, ...).
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <signal.h>
#include <stdio.h>

static void issues_under_nonce_rejection(void)
{
	struct shim_env env;
	struct pebble_opts po = {.nonce_reject = 90, .authz_reuse = -1};
	char serial[80];

	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, &po) == 0 && shim_env_server_start(&env) == 0;
	CHECK(ok);
	if (ok) {
		long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, 60000, serial, sizeof(serial));
		CHECK(ms >= 0);
		int retries = shim_log_count(&env, "badNonce", NULL);
		int failures = shim_log_count(&env, "error:", "next try in");
		fprintf(stderr, "  nonce rejection 90 %%: verified after %ld ms, %d badNonce retries logged, %d failed "
				"orders, %d orders\n",
			ms, retries, failures, pebble_count_orders(&env.p));
		shim_log_print(&env, "error:", 6);
		CHECK_INT(retries, >=, 10);
		CHECK(shim_log_has(&env, "obtained a certificate for " SHIM_NAME));
		shim_check_log(&env);
	}
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

static void pebble_killed_mid_order(void)
{
	struct shim_env env;
	struct tls_client_result r;
	char serial[80];

	/* The kill must land while the order is in flight. The manager orders as soon as the tree can answer
	 * (no fixed wait), so an order can complete before the server's start has even been seen; so the mock DNS
	 * Pebble resolves the name through is held (SIGSTOP) until Pebble is dead: the order's validation waits
	 * on it, and the kill always finds the order in flight. */
	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, NULL) == 0;
	if (ok)
		kill(env.p.chall_pid, SIGSTOP);
	ok = ok && shim_env_server_start(&env) == 0;
	CHECK(ok);
	if (!ok) {
		kill(env.p.chall_pid, SIGCONT);
		goto out;
	}
	long t0 = harness_now_ms();
	while (shim_log_count(&env, "obtaining a certificate for", NULL) < 1 && harness_now_ms() - t0 < 10000)
		harness_sleep_ms(2);
	CHECK_OK(pebble_kill(&env.p));
	kill(env.p.chall_pid, SIGCONT);
	long t_kill = harness_now_ms();
	int in_flight = !shim_log_has(&env, "obtained a certificate");
	fprintf(stderr, "  Pebble killed %ld ms after the start, %s\n", t_kill - t0,
		in_flight ? "with the order in flight" : "too late: the order had completed");
	CHECK(in_flight);
	long ms = shim_log_wait(&env, "error:", "next try in", 1, 10000);
	CHECK(ms >= 0);
	shim_log_print(&env, "error:", 4);
	/* Meanwhile the placeholder is served. */
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.serial, env.srv.serial);

	/* The dead Pebble's log says whether it had created the order already. */
	int orders_dead = pebble_count_orders(&env.p);
	fprintf(stderr, "  the killed Pebble had created %d order(s)\n", orders_dead);
	REQUIRE(pebble_restart(&env.p) == 0);
	ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, 30000, serial, sizeof(serial));
	CHECK(ms >= 0);
	fprintf(stderr, "  certificate verified %ld ms after Pebble came back (%d failed tries, %d orders in all)\n",
		ms, shim_log_count(&env, "error:", "next try in"), pebble_count_orders(&env.p));
	CHECK_INT(pebble_count_orders(&env.p), >, orders_dead);
	CHECK_INT(ms, <=, 15000);
	CHECK(shim_log_has(&env, "obtained a certificate for " SHIM_NAME));
	if (ms >= 0)
		shim_check_restart(&env);
	shim_check_log(&env);
out:
	shim_env_finish(&env);
}

int main(void)
{
	RUN(issues_under_nonce_rejection);
	RUN(pebble_killed_mid_order);
	return TEST_EXIT();
}
