/*
 * Two hosts of a fleet on etcd: two nginx trees (master + 2 workers each, separate process trees, separate
 * AUTOTLS_STATE_DIR folders: no shared folder) with AUTOTLS_STORAGE=etcd://... on a real three-member cluster.
 * Pebble's tlsPort is A's port, so A must lead the fleet (only the leader answers TLS-ALPN-01 until challenges go
 * through the store): A starts first and B once A's log says it leads the fleet. Then:
 *  - B never leads (the fleet lock on etcd, not a file, keeps it out), serves the same certificate as A, learnt
 *    through the etcd watch: the time between A's first verified handshake and B's is printed;
 *  - `autotls renew --force` through A's control socket (in A's state folder): a new serial on A, then on B
 *    within 1 s (the watch; printed); one order each time at Pebble;
 *  - A stopped: B takes the fleet's lead once A's lease ends (printed), with no new order.
 */
#include "tests/harness/command.h"
#include "tests/harness/etcd.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct shim_env env;
static struct etcd_cluster cl;
static struct server srv_b;
static int port_b, started_b, issued;
static char spec[300], cli[PATH_MAX], out[16384];
static char dir_b[400], log_b[400], e_log_b[420], e_state_a[420], e_state_b[420], serial1[80];
static char *envp_b[20];

static long poll_serial(int port, const char *old, long timeout_ms, char *serial, size_t cap)
{
	struct shim_env probe;
	memcpy(&probe, &env, sizeof(probe));
	probe.port = port;
	return shim_wait_serial(&probe, env.p.issuing_root_file, old, timeout_ms, serial, cap);
}

static int log_has(const char *path, const char *what)
{
	char *text = harness_read_file(path, NULL);
	int has = text && strstr(text, what) != NULL;
	free(text);
	return has;
}

static void a_leads_b_follows(void)
{
	long t0 = harness_now_ms();
	REQUIRE(etcd_cluster_start(&cl) == 0);
	REQUIRE(etcd_cluster_spec(&cl, "fleet905", spec, sizeof spec) == 0);
	fprintf(stderr, "  three etcd members healthy in %ld ms\n", harness_now_ms() - t0);
	shim_env_extra[0] = e_state_a; /* filled below, once the folder is known (the pointer is borrowed) */
	int prepared = shim_env_prepare(&env, SERVER_NGINX) == 0;
	shim_env_extra[0] = NULL;
	REQUIRE(prepared);
	snprintf(e_state_a, sizeof e_state_a, "AUTOTLS_STATE_DIR=%s/state-a", env.dir);
	snprintf(env.e_storage, sizeof env.e_storage, "AUTOTLS_STORAGE=%s", spec);
	REQUIRE(shim_env_server_start(&env) == 0);
	long ms = shim_log_wait(&env, "leads the fleet", NULL, 1, 10000);
	CHECK(ms >= 0);
	/* B: its own folder, port, log and state folder; the same etcd store, name and CA. */
	snprintf(dir_b, sizeof dir_b, "%s/b", env.dir);
	snprintf(log_b, sizeof log_b, "%s/b/autotls.log", env.dir);
	snprintf(e_log_b, sizeof e_log_b, "AUTOTLS_LOG=%s", log_b);
	snprintf(e_state_b, sizeof e_state_b, "AUTOTLS_STATE_DIR=%s/b/state", env.dir);
	CHECK_OK(mkdir(dir_b, 0755));
	int k = 0;
	for (int i = 0; env.envp[i] != NULL && k < 18; i++) {
		if (strncmp(env.envp[i], "AUTOTLS_LOG=", 12) == 0)
			envp_b[k++] = e_log_b;
		else if (strncmp(env.envp[i], "AUTOTLS_STATE_DIR=", 18) == 0)
			envp_b[k++] = e_state_b;
		else
			envp_b[k++] = env.envp[i];
	}
	envp_b[k] = NULL;
	port_b = harness_free_port();
	started_b = server_start(&srv_b, SERVER_NGINX, dir_b, port_b, envp_b) == 0;
	REQUIRE(started_b);
	ms = poll_serial(env.port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial1, sizeof serial1);
	REQUIRE(ms >= 0);
	issued = 1;
	char serial_b[80];
	long spread = poll_serial(port_b, NULL, 5000, serial_b, sizeof serial_b);
	fprintf(stderr, "  A (port %d) serves %s; B (port %d) %s %ld ms later\n", env.port, serial1, port_b,
		spread >= 0 ? "serves it" : "never verified", spread);
	CHECK(spread >= 0);
	if (spread >= 0)
		CHECK_STR(serial_b, serial1);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	CHECK(!log_has(log_b, "leads the fleet"));
	CHECK(log_has(log_b, "from the store"));
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
		 spec, e_state_a, env.p.directory_url, env.ca_roots, SHIM_NAME, cli, SHIM_NAME);
	int rc = harness_command(cmd, out, sizeof out);
	if (rc != 0)
		fprintf(stderr, "  autotls renew: %d: %s\n", rc, out);
	CHECK_INT(rc, ==, 0);
	long ms = poll_serial(env.port, serial1, 10000, serial_a, sizeof serial_a);
	CHECK(ms >= 0);
	long spread = poll_serial(port_b, serial1, 5000, serial_b, sizeof serial_b);
	fprintf(stderr, "  renewed: A serves %s; B serves %s %ld ms later (the watch)\n", serial_a,
		spread >= 0 ? serial_b : "nothing new", spread);
	CHECK(spread >= 0 && spread <= 1000);
	if (spread >= 0)
		CHECK_STR(serial_b, serial_a);
	CHECK_INT(pebble_count_orders(&env.p), ==, 2);
	CHECK(!log_has(log_b, "leads the fleet"));
}

static void b_leads_when_a_stops(void)
{
	char serial_b[80];
	REQUIRE(issued && started_b);
	server_stop(&env.srv);
	long t0 = harness_now_ms(), took = -1;
	while (harness_now_ms() - t0 < 15000) {
		if (log_has(log_b, "leads the fleet")) {
			took = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(100);
	}
	fprintf(stderr, "  A stopped: B leads the fleet after %ld ms\n", took);
	CHECK(took >= 0);
	CHECK(poll_serial(port_b, NULL, 3000, serial_b, sizeof serial_b) >= 0);
	CHECK_INT(pebble_count_orders(&env.p), ==, 2);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(a_leads_b_follows);
	RUN(renewal_reaches_b_by_watch);
	RUN(b_leads_when_a_stops);
	if (test_failed_total) {
		shim_env_dump(&env);
		server_print_logs(&srv_b);
		char *text = harness_read_file(log_b, NULL);
		fprintf(stderr, "  --- %s ---\n%s\n", log_b, text ? text : "(none)");
		free(text);
	}
	server_stop(&srv_b);
	shim_env_stop(&env);
	etcd_cluster_stop(&cl);
	fprintf(stderr, "  wall time %ld ms\n", harness_now_ms() - t0);
	return TEST_EXIT();
}
