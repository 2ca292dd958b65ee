/*
 * Two hosts of a fleet on etcd: two nginx trees (master + 2 workers each, separate process trees, separate
 * AUTOTLS_STATE_DIR folders: no shared folder) with AUTOTLS_STORAGE=etcd://... on a real three-member cluster.
 * Pebble's tlsPort is A's port, so A must lead the fleet (only the leader answers TLS-ALPN-01 until challenges go
 * through the store): A starts first and B once A's log says it leads the fleet. Then:
 *  - A's AUTOTLS_SITES is refused with one error (a sites file needs a folder store), its certificate unaffected;
 *  - B never leads (the fleet lock on etcd, not a file, keeps it out), serves the same certificate as A, learnt
 *    through the etcd watch: the time between A's first verified handshake and B's is printed;
 *  - `autotls renew --force` through A's control socket (in A's state folder): a new serial on A, then on B
 *    within 1 s (the watch; printed); one order each time at Pebble;
 *  - A stopped (a clean exit): A's manager gives the fleet lock back (fleet_exit.c) and B leads well within the
 *    lease (under 3 s; printed), with no new order;
 *  - B's leading manager process SIGKILLed (no clean exit): no other leads before the lease has run out
 *    (printed; B's tree starts a new manager process, which leads once the lease ends).
 */
#include "shim/manager/fleet.h"
#include "tests/harness/command.h"
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static struct shim_env env;
static struct fleet fl = { .env = &env };
static struct fleet_host *const b = &fl.host[0];
static int issued;
static char cli[PATH_MAX], out[16384], serial1[80];

static void a_leads_b_follows(void)
{
	long t0 = harness_now_ms();
	REQUIRE(fleet_etcd_start(&fl, "fleet905") == 0);
	fprintf(stderr, "  three etcd members healthy in %ld ms\n", harness_now_ms() - t0);
	/* A sites file is refused on etcd (the pool keeps its sites in a folder store): one error naming both
	 * settings, and the leader's own certificate goes on. The file need not exist: nothing reads it. */
	REQUIRE(fleet_prepare(&fl, "state-a", "AUTOTLS_SITES=/nonexistent/autotls-sites.txt") == 0);
	REQUIRE(shim_env_server_start(&env) == 0);
	long ms = shim_log_wait(&env, "leads the fleet", NULL, 1, 10000);
	CHECK(ms >= 0);
	/* B: its own folder, port, log and state folder; the same etcd store, name and CA. */
	REQUIRE(fleet_add_host(&fl, "b") == 0);
	ms = fleet_wait_serial(&env, env.port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial1, sizeof serial1);
	REQUIRE(ms >= 0);
	issued = 1;
	char serial_b[80];
	long spread = fleet_wait_serial(&env, b->port, NULL, 5000, serial_b, sizeof serial_b);
	fprintf(stderr, "  A (port %d) serves %s; B (port %d) %s %ld ms later\n", env.port, serial1, b->port,
		spread >= 0 ? "serves it" : "never verified", spread);
	CHECK(spread >= 0);
	if (spread >= 0)
		CHECK_STR(serial_b, serial1);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	CHECK(!fleet_log_has(b->log, "leads the fleet"));
	CHECK(fleet_log_has(b->log, "from the store"));
	CHECK(fleet_log_has(env.log, "AUTOTLS_SITES=/nonexistent/autotls-sites.txt is not served: a sites file needs a "
				     "folder store"));
}

static void renewal_reaches_b_by_watch(void)
{
	char serial_a[80], serial_b[80], cmd[3 * PATH_MAX + 600];
	REQUIRE(issued);
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof rel, "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	/* The operator's command on host A finds A's control socket in A's state folder. */
	snprintf(cmd, sizeof cmd, "env AUTOTLS_STORAGE=%s %s AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s AUTOTLS_DOMAINS=%s %s "
				  "renew --force %s 2>&1",
		 fl.spec, fl.e_state, env.p.directory_url, env.ca_roots, SHIM_NAME, cli, SHIM_NAME);
	int rc = harness_command(cmd, out, sizeof out);
	if (rc != 0)
		fprintf(stderr, "  autotls renew: %d: %s\n", rc, out);
	CHECK_INT(rc, ==, 0);
	long ms = fleet_wait_serial(&env, env.port, serial1, 10000, serial_a, sizeof serial_a);
	CHECK(ms >= 0);
	long spread = fleet_wait_serial(&env, b->port, serial1, 5000, serial_b, sizeof serial_b);
	fprintf(stderr, "  renewed: A serves %s; B serves %s %ld ms later (the watch)\n", serial_a,
		spread >= 0 ? serial_b : "nothing new", spread);
	CHECK(spread >= 0 && spread <= 1000);
	if (spread >= 0)
		CHECK_STR(serial_b, serial_a);
	CHECK_INT(pebble_count_orders(&env.p), ==, 2);
	CHECK(!fleet_log_has(b->log, "leads the fleet"));
}

static void b_leads_when_a_stops(void)
{
	char serial_b[80];
	REQUIRE(issued && b->started);
	server_stop(&env.srv);
	long t0 = harness_now_ms(), took = -1;
	while (harness_now_ms() - t0 < 15000) {
		if (fleet_log_has(b->log, "leads the fleet")) {
			took = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(100);
	}
	fprintf(stderr, "  A stopped: B leads the fleet after %ld ms (the lease is %d s: A gave the lock back)\n", took,
		MGR_FLEET_LEASE_S);
	CHECK(took >= 0 && took < 3000);
	CHECK(fleet_log_has(env.log, "gave back 1 lock"));
	CHECK(fleet_wait_serial(&env, b->port, NULL, 3000, serial_b, sizeof serial_b) >= 0);
	CHECK_INT(pebble_count_orders(&env.p), ==, 2);
}

/* The pid of the last "pid N leads the fleet" line in the log at path, or -1. */
static int last_leader_pid(const char *path)
{
	char *text = harness_read_file(path, NULL);
	int pid = -1;
	for (const char *p = text; p && (p = strstr(p, " leads the fleet")) != NULL; p++) {
		const char *q = p;
		while (q > text && q[-1] >= '0' && q[-1] <= '9')
			q--;
		if (q > text + 4 && strncmp(q - 4, "pid ", 4) == 0)
			pid = atoi(q);
	}
	free(text);
	return pid;
}

static void killed_leader_waits_for_lease(void)
{
	REQUIRE(issued && b->started);
	int dead = last_leader_pid(b->log);
	REQUIRE(dead > 0);
	/* No clean exit: the lease runs out before another manager may lead (B's tree starts a new one). */
	REQUIRE(kill(dead, SIGKILL) == 0);
	long t0 = harness_now_ms(), took = -1;
	while (harness_now_ms() - t0 < 20000) {
		int now = last_leader_pid(b->log);
		if (now > 0 && now != dead) {
			took = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(100);
	}
	fprintf(stderr, "  B's leading manager (pid %d) SIGKILLed: another led after %ld ms (the lease: %d s)\n", dead,
		took, MGR_FLEET_LEASE_S);
	CHECK(took >= (MGR_FLEET_LEASE_S - 2) * 1000L);
	CHECK_INT(pebble_count_orders(&env.p), ==, 2);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(a_leads_b_follows);
	RUN(renewal_reaches_b_by_watch);
	RUN(b_leads_when_a_stops);
	RUN(killed_leader_waits_for_lease);
	return fleet_end(&fl, 1, t0);
}
