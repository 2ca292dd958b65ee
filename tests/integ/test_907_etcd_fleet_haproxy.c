/*
 * Issue 11, acceptance 1: a real three-member etcd cluster, three nginx hosts (master + 2 workers each, separate
 * process trees, each its own AUTOTLS_STATE_DIR: no shared folder) behind a real TCP load balancer (HAProxy,
 * mode tcp, round robin) on the port Pebble validates TLS-ALPN-01 on. Whichever host the validation reaches
 * answers (the challenge goes through the store); every host serves a certificate that verifies for the name,
 * the same one; Pebble saw exactly one order. The test holds the engine's issue lock on etcd until all three
 * hosts watch the store, so that the validation cannot come before a host listens.
 */
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

#define HOSTS 3

static struct shim_env env;
static struct fleet fl = { .env = &env };

static void three_hosts_one_order(void)
{
	char serial[HOSTS][80], lb_serial[80];
	long t0 = harness_now_ms();
	REQUIRE(fleet_etcd_start(&fl, "fleet907") == 0);
	REQUIRE(fleet_prepare(&fl, NULL, "AUTOTLS_CHALLENGES=tls-alpn-01") == 0);
	int lead = fleet_behind_haproxy(&fl, HOSTS);
	REQUIRE(lead >= 0);
	long t1 = harness_now_ms();
	CHECK_OK(fleet_release_issue(&fl));
	int leaders = 0, answered_elsewhere = 0;
	for (int h = 0; h < HOSTS; h++) {
		long ms = fleet_wait_serial(&env, fl.host[h].port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial[h], sizeof serial[h]);
		fprintf(stderr, "  host %d (port %d): %s at %ld ms after the lock was let go%s\n", h, fl.host[h].port,
			ms >= 0 ? serial[h] : "never verified", harness_now_ms() - t1,
			fleet_log_has(fl.host[h].log, "leads the fleet") ? " (the fleet's leader)" : "");
		CHECK(ms >= 0);
		if (ms >= 0 && h > 0)
			CHECK_STR(serial[h], serial[0]);
		leaders += fleet_log_has(fl.host[h].log, "leads the fleet");
		answered_elsewhere += fleet_log_has(fl.host[h].log, "published from the fleet's store");
	}
	CHECK(fleet_wait_serial(&env, env.port, NULL, 5000, lb_serial, sizeof lb_serial) >= 0);
	CHECK_STR(lb_serial, serial[0]);
	CHECK_INT(leaders, ==, 1);
	CHECK_INT(answered_elsewhere, ==, HOSTS - 1); /* both followers held the leader's challenge */
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	fprintf(stderr, "  one order at Pebble; all %d hosts serve %s (%ld ms from the etcd start)\n", HOSTS, serial[0],
		harness_now_ms() - t0);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(three_hosts_one_order);
	return fleet_end(&fl, 0, t0);
}
