/*
 * Two independent s_server processes (separate process trees, no shared region between them) under the shim,
 * same AUTOTLS_STORAGE, same managed name, different ports. Pebble's tlsPort is A's port, so A must be the one
 * that leads (only the leader's process tree answers TLS-ALPN-01): A starts first and B starts once A's log says
 * it manages. The name is ordered exactly once (pebble_count_orders() == 1) and both end up serving the managed
 * certificate: B, which loses the election on <store>/manager.lock, has to read it from the store. Then A stops:
 * B takes the lead over and still serves the stored certificate, still with no new order.
 */
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct shim_env env;
static struct fleet_host b;
static int started_a, started_b, issued_a;
static char serial_a[80];

/* A verified handshake on port for SHIM_NAME, polled up to timeout_ms; elapsed ms (serial in out) or -1. */
static long wait_port(int port, long timeout_ms, char *out, size_t cap)
{
	long t0 = harness_now_ms();
	struct shim_env probe;

	memcpy(&probe, &env, sizeof(probe));
	probe.port = port;
	return shim_wait_serial(&probe, env.p.issuing_root_file, NULL, timeout_ms, out, cap) >= 0 ?
		       harness_now_ms() - t0 :
		       -1;
}

static void a_leads_and_issues(void)
{
	REQUIRE(shim_env_prepare_fault(&env, SERVER_S_SERVER, NULL) == 0);
	started_a = shim_env_server_start(&env) == 0;
	REQUIRE(started_a);
	long ms = shim_log_wait(&env, "managing certificates in pid", NULL, 1, 10000);
	CHECK(ms >= 0);
	/* B: its own folder, port and log; the same store, name and CA. */
	started_b = fleet_host_start(&b, &env, SERVER_S_SERVER, "b", 0) == 0;
	CHECK(started_b);
	ms = wait_port(env.port, SHIM_ISSUE_TIMEOUT_MS, serial_a, sizeof(serial_a));
	CHECK(ms >= 0);
	issued_a = ms >= 0;
	fprintf(stderr, "  A (port %d, Pebble's tlsPort) verified: serial %s\n", env.port, serial_a);
}

static void b_serves_the_stored_certificate(void)
{
	char serial_b[80];

	REQUIRE(issued_a && started_b);
	long ms = wait_port(b.port, 15000, serial_b, sizeof(serial_b));
	fprintf(stderr, "  B (port %d): %s after %ld ms more\n", b.port, ms >= 0 ? serial_b : "never verified", ms);
	CHECK(ms >= 0);
	if (ms >= 0)
		CHECK_STR(serial_b, serial_a);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	/* Exactly one leader at a time. */
	char *text = harness_read_file(b.log, NULL);
	fprintf(stderr, "  B's log: %s\n",
		text && strstr(text, "managing certificates") ? "B managed at some point" : "B never managed");
	free(text);
}

static void b_takes_over_when_a_stops(void)
{
	char serial_b[80];

	REQUIRE(issued_a && started_b);
	server_stop(&env.srv);
	long t0 = harness_now_ms();
	long ms = wait_port(b.port, 10000, serial_b, sizeof(serial_b));
	CHECK(ms >= 0);
	if (ms >= 0)
		CHECK_STR(serial_b, serial_a);
	harness_sleep_ms(1500);
	char *text = harness_read_file(b.log, NULL);
	int took_over = text && strstr(text, "managing certificates") != NULL;
	fprintf(stderr, "  after A stopped: B %s the lead, serves %s (%ld ms)\n", took_over ? "took" : "did not take",
		ms >= 0 ? serial_b : "no verified certificate", harness_now_ms() - t0);
	free(text);
	CHECK(took_over);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
}

int main(void)
{
	RUN(a_leads_and_issues);
	RUN(b_serves_the_stored_certificate);
	RUN(b_takes_over_when_a_stops);
	if (test_failed_total) {
		shim_env_dump(&env);
		fleet_host_dump(&b);
	}
	server_stop(&b.srv);
	shim_env_stop(&env);
	return TEST_EXIT();
}
