/*
 * Issue 11, acceptance 3, under the shim: the fleet of test_907 (a real three-member etcd cluster, three nginx
 * hosts, master + 2 workers each, separate trees and state folders, behind HAProxy in TCP mode on Pebble's
 * tlsPort), and a kill in the middle of the first issuance: once Pebble has the order (the leading host then
 * publishes its challenge through the store, waits for the fleet and only then asks Pebble to validate), before
 * any host serves a certificate.
 *  - leader_killed: the etcd LEADER member SIGKILLed (moved beforehand onto member 0, the one every host's client
 *    asks first, so that the kill cuts the hosts' member as well as the cluster's leader): the issuance
 *    completes, every host serves a certificate that verifies against Pebble's root, Pebble saw one order.
 *  - holder_killed: the HOST holding the fleet lock (and the engine's issue lock) SIGKILLed, its whole tree: the
 *    nginx master, its workers and its autotls-manager process. Another host takes over once the lease ends
 *    (printed: how long after the kill), no order reaches Pebble while the dead host's lease may still run (the
 *    kill time plus MGR_FLEET_LEASE_S), and both surviving hosts serve a verified certificate. HAProxy checks
 *    its servers here (a balancer in front of a fleet does), so that Pebble's validation is not sent to the dead
 *    host.
 */
#include "shim/manager/fleet.h"
#include "tests/harness/fleet.h"
#include "tests/harness/fleet_kill.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

#define HOSTS 3

static struct shim_env env_a, env_b;
static struct fleet fa = { .env = &env_a }, fb = { .env = &env_b };

/* Waits until Pebble has logged more than `before` orders: the time it took, or -1 after timeout_ms. */
static long wait_order(const struct fleet *f, int before, long timeout_ms)
{
	long t0 = harness_now_ms();
	while (pebble_count_orders(&f->env->p) <= before) {
		if (harness_now_ms() - t0 > timeout_ms)
			return -1;
		harness_sleep_ms(2);
	}
	return harness_now_ms() - t0;
}

/* Pebble's orders now: *in_lease keeps the count of the last sample taken before kill + lease_ms (a second order
 * counted there came while the dead host's lease could still run), *first the time of the first second order. */
static void sample_orders(long kill_ms, long lease_ms, int *in_lease, long *first)
{
	int n = pebble_count_orders(&env_b.p);
	long now = harness_now_ms() - kill_ms;
	if (now < lease_ms)
		*in_lease = n;
	if (*first < 0 && n > 1)
		*first = now;
}

static void fleet_finish(struct fleet *f)
{
	if (test_failed_now)
		fleet_dump(f);
	fleet_stop(f);
}

static void leader_killed(void)
{
	char serial[HOSTS][80], lb_serial[80];
	REQUIRE(fleet_etcd_start(&fa, "fleet909a") == 0);
	/* Every host's client starts with the first member of the list: the leader there makes the kill cut both. */
	CHECK_OK(etcd_cluster_move_leader(&fa.cl, 0, 5000));
	/* Asked now, not between the order and the kill: the leader has ~1 s to obtain after its order. */
	int member = etcd_cluster_leader(&fa.cl);
	REQUIRE(fleet_prepare(&fa, NULL, "AUTOTLS_CHALLENGES=tls-alpn-01") == 0);
	int lead = fleet_behind_haproxy(&fa, HOSTS);
	REQUIRE(lead >= 0);
	CHECK_OK(fleet_release_issue(&fa));
	long ordered = wait_order(&fa, 0, 20000);
	REQUIRE(ordered >= 0);
	long kill_ms = harness_now_ms();
	CHECK(member >= 0);
	etcd_cluster_kill(&fa.cl, member);
	int early = fleet_log_has(fa.host[lead].log, "obtained a certificate");
	fprintf(stderr, "  the order reached Pebble %ld ms after the issue lock was let go; etcd member %d (the leader) "
		"SIGKILLed then%s\n", ordered, member, early ? ", but the certificate was already obtained" : "");
	CHECK(!early);
	for (int h = 0; h < HOSTS; h++) {
		long ms = fleet_wait_serial(&env_a, fa.host[h].port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial[h],
					    sizeof serial[h]);
		fprintf(stderr, "  host %d (port %d): %s %ld ms after the kill%s\n", h, fa.host[h].port,
			ms >= 0 ? serial[h] : "never verified", harness_now_ms() - kill_ms,
			h == lead ? " (the fleet's leader)" : "");
		CHECK(ms >= 0);
		if (ms >= 0 && h > 0)
			CHECK_STR(serial[h], serial[0]);
	}
	CHECK(fleet_wait_serial(&env_a, env_a.port, NULL, 5000, lb_serial, sizeof lb_serial) >= 0);
	CHECK_STR(lb_serial, serial[0]);
	int leaders = 0;
	for (int h = 0; h < HOSTS; h++)
		leaders += fleet_log_has(fa.host[h].log, "leads the fleet");
	CHECK_INT(leaders, ==, 1);
	CHECK_INT(pebble_count_orders(&env_a.p), ==, 1);
	fprintf(stderr, "  one order at Pebble; member %d leads etcd now\n", etcd_cluster_leader(&fa.cl));
	fleet_finish(&fa);
}

static void holder_killed(void)
{
	char serial[HOSTS][80];
	REQUIRE(fleet_etcd_start(&fb, "fleet909b") == 0);
	fb.lb_server_opts = "check inter 200 fall 1 rise 1";
	REQUIRE(fleet_prepare(&fb, NULL, "AUTOTLS_CHALLENGES=tls-alpn-01") == 0);
	int lead = fleet_behind_haproxy(&fb, HOSTS);
	REQUIRE(lead >= 0);
	CHECK_OK(fleet_release_issue(&fb));
	long ordered = wait_order(&fb, 0, 20000);
	REQUIRE(ordered >= 0);
	pid_t mgr = 0;
	long kill_ms = harness_now_ms();
	CHECK_OK(fleet_host_kill(&fb, lead, &mgr));
	CHECK(mgr > 0);
	fprintf(stderr, "  the order reached Pebble %ld ms after the issue lock was let go; host %d (the fleet's "
		"leader: nginx's group and its manager, pid %d) SIGKILLed then\n", ordered, lead, (int)mgr);
	harness_sleep_ms(100);
	CHECK(!fleet_log_has(fb.host[lead].log, "obtained a certificate"));

	/* Sampled every 20 ms from the kill: the first new order, the next leader, each survivor's certificate. */
	long lease_end = MGR_FLEET_LEASE_S * 1000L, new_order = -1, took = -1, served[HOSTS];
	int next = -1, left = HOSTS - 1, in_lease = 0;
	for (int h = 0; h < HOSTS; h++)
		served[h] = -1;
	while (left > 0 && harness_now_ms() - kill_ms < lease_end + SHIM_ISSUE_TIMEOUT_MS) {
		long now = harness_now_ms() - kill_ms;
		sample_orders(kill_ms, lease_end, &in_lease, &new_order);
		for (int h = 0; h < HOSTS; h++) {
			if (h == lead)
				continue;
			if (took < 0 && fleet_log_has(fb.host[h].log, "leads the fleet")) {
				took = now;
				next = h;
			}
			if (served[h] < 0 && fleet_wait_serial(&env_b, fb.host[h].port, NULL, 0, serial[h],
							       sizeof serial[h]) >= 0) {
				served[h] = harness_now_ms() - kill_ms;
				left--;
			}
			sample_orders(kill_ms, lease_end, &in_lease, &new_order);
		}
		harness_sleep_ms(20);
	}
	fprintf(stderr, "  host %d leads the fleet %ld ms after the kill (the fleet lock's lease: %d s, the issue "
		"lock's: %d s)\n", next, took, MGR_FLEET_LEASE_S, MGR_FLEET_ISSUE_LEASE_S);
	CHECK(took >= 0);
	for (int h = 0; h < HOSTS; h++) {
		if (h == lead)
			continue;
		fprintf(stderr, "  host %d (port %d): %s %ld ms after the kill\n", h, fb.host[h].port,
			served[h] >= 0 ? serial[h] : "never verified", served[h]);
		CHECK(served[h] >= lease_end); /* never -1: and not before the dead host's lease could have ended */
		if (served[h] >= 0 && next >= 0 && served[next] >= 0)
			CHECK_STR(serial[h], serial[next]);
	}
	int leaders = 0; /* one survivor leads: the fleet lock is kept while it waits out the issue lock's lease */
	for (int h = 0; h < HOSTS; h++)
		leaders += h != lead && fleet_log_has(fb.host[h].log, "leads the fleet");
	CHECK_INT(leaders, ==, 1);
	int orders = pebble_count_orders(&env_b.p);
	int resumed = next >= 0 && fleet_log_has(fb.host[next].log, "resuming the order of");
	fprintf(stderr, "  %d order(s) at Pebble in all (%s); the first after the kill %s %ld ms after it\n", orders,
		resumed ? "the next leader resumed the dead host's order" : "the dead host's order was not resumed",
		new_order >= 0 ? "came" : "never came:", new_order);
	/* The dead host's leases (the fleet lock's and the issue lock's) ran until the kill plus their length at
	 * most: no order for the name before the kill plus the fleet lock's. */
	CHECK_INT(in_lease, ==, 1);
	if (new_order >= 0)
		CHECK(new_order >= lease_end);
	CHECK(orders <= 2);
	fleet_finish(&fb);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(leader_killed);
	RUN(holder_killed);
	fleet_stop(&fa);
	fleet_stop(&fb);
	fprintf(stderr, "  wall time %ld ms\n", harness_now_ms() - t0);
	return TEST_EXIT();
}
