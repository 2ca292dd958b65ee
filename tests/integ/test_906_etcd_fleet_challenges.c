/*
 * Distributed challenge solving on etcd: two nginx hosts (separate trees and state folders) on one etcd store,
 * AUTOTLS_CHALLENGES=tls-alpn-01. B starts first and leads the fleet; Pebble validates TLS-ALPN-01 on A's port
 * only, so the order succeeds only if A answers with B's challenge certificate, which it finds through the
 * store (<PREFIX>/challenges/, watched). The test holds the engine's issue lock on etcd until A is up (B, leading,
 * waits for it), so that B's validation cannot come before A listens. Then both serve the certificate, with one order at Pebble, and A never
 * led; the challenge record is gone from etcd afterwards.
 */
#include "tests/harness/etcd.h"
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <stdio.h>

static struct shim_env env;
static struct fleet fl = { .env = &env };
static struct fleet_host *const b = &fl.host[0];

static void follower_answers_the_leaders_challenge(void)
{
	char serial_a[80], serial_b[80], got[4096];
	size_t got_len = 0;
	REQUIRE(fleet_etcd_start(&fl, "fleet906") == 0);
	REQUIRE(fleet_prepare(&fl, "state-a", "AUTOTLS_CHALLENGES=tls-alpn-01") == 0);
	REQUIRE(fleet_hold_issue(&fl) == 0);
	/* B first, on a port Pebble never validates on. */
	REQUIRE(fleet_add_host(&fl, "b") == 0);
	REQUIRE(fleet_log_wait(b->log, "leads the fleet", 10000) == 0);
	/* A, on Pebble's tlsPort: it must answer B's challenge. */
	REQUIRE(shim_env_server_start(&env) == 0);
	REQUIRE(shim_log_wait(&env, "watches", NULL, 1, 10000) >= 0);
	CHECK_OK(fleet_release_issue(&fl));
	long ms = fleet_wait_serial(&env, env.port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial_a, sizeof serial_a);
	fprintf(stderr, "  A (port %d, Pebble's tlsPort, follower): %s after %ld ms\n", env.port,
		ms >= 0 ? serial_a : "never verified", ms);
	REQUIRE(ms >= 0);
	ms = fleet_wait_serial(&env, b->port, NULL, 5000, serial_b, sizeof serial_b);
	CHECK(ms >= 0);
	if (ms >= 0)
		CHECK_STR(serial_b, serial_a);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	CHECK(!fleet_log_has(env.log, "leads the fleet"));
	CHECK(fleet_log_has(env.log, "published from the fleet's store"));
	CHECK(fleet_log_has(b->log, "through tls-alpn-01"));
	/* The leader's cleanup deleted the record: nothing left under challenges/. */
	CHECK(etcd_cluster_ctl_get(&fl.cl, "fleet906/challenges/tls-alpn-01/" SHIM_NAME, got, sizeof got, &got_len) != 0 ||
	      got_len == 0);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(follower_answers_the_leaders_challenge);
	return fleet_end(&fl, 1, t0);
}
