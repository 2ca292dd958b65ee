/*
 * Distributed challenge solving on etcd: two nginx hosts (separate trees and state folders) on one etcd store,
 * AUTOTLS_CHALLENGES=tls-alpn-01. B starts first and leads the fleet; Pebble validates TLS-ALPN-01 on A's port
 * only, so the order succeeds only if A answers with B's challenge certificate, which it finds through the
 * store (<PREFIX>/challenges/, watched). The test holds the engine's issue lock on etcd until A is up (B, leading,
 * waits for it), so that B's validation cannot come before A listens. Then both serve the certificate, with one order at Pebble, and A never
 * led; the challenge record is gone from etcd afterwards.
 */
#include "store/store.h"
#include "store/store_etcd.h"
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
static int port_b, started_b;
static char spec[300], dir_b[400], log_b[400], e_log_b[420], e_state_a[420], e_state_b[420];
static char *envp_b[20];

static long poll_serial(int port, long timeout_ms, char *serial, size_t cap)
{
	struct shim_env probe;
	memcpy(&probe, &env, sizeof(probe));
	probe.port = port;
	return shim_wait_serial(&probe, env.p.issuing_root_file, NULL, timeout_ms, serial, cap);
}

static int log_has(const char *path, const char *what)
{
	char *text = harness_read_file(path, NULL);
	int has = text && strstr(text, what) != NULL;
	free(text);
	return has;
}

static void follower_answers_the_leaders_challenge(void)
{
	char serial_a[80], serial_b[80], got[4096];
	size_t got_len = 0;
	REQUIRE(etcd_cluster_start(&cl) == 0);
	REQUIRE(etcd_cluster_spec(&cl, "fleet906", spec, sizeof spec) == 0);
	shim_env_extra[0] = e_state_a; /* filled below (the pointer is borrowed) */
	shim_env_extra[1] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	int prepared = shim_env_prepare(&env, SERVER_NGINX) == 0;
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	REQUIRE(prepared);
	snprintf(e_state_a, sizeof e_state_a, "AUTOTLS_STATE_DIR=%s/state-a", env.dir);
	snprintf(env.e_storage, sizeof env.e_storage, "AUTOTLS_STORAGE=%s", spec);
	struct at_store *hold = NULL;
	REQUIRE(at_store_open_etcd(&hold, spec) == 0);
	REQUIRE(at_store_lock(hold, "issue-" SHIM_NAME, 30, 0) == 0);
	/* B first, on a port Pebble never validates on. */
	snprintf(dir_b, sizeof dir_b, "%s/b", env.dir);
	snprintf(log_b, sizeof log_b, "%s/b/autotls.log", env.dir);
	snprintf(e_log_b, sizeof e_log_b, "AUTOTLS_LOG=%s", log_b);
	snprintf(e_state_b, sizeof e_state_b, "AUTOTLS_STATE_DIR=%s/b/state", env.dir);
	REQUIRE(mkdir(dir_b, 0755) == 0);
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
	long t0 = harness_now_ms();
	while (!log_has(log_b, "leads the fleet") && harness_now_ms() - t0 < 10000)
		harness_sleep_ms(20);
	REQUIRE(log_has(log_b, "leads the fleet"));
	/* A, on Pebble's tlsPort: it must answer B's challenge. */
	REQUIRE(shim_env_server_start(&env) == 0);
	REQUIRE(shim_log_wait(&env, "watches", NULL, 1, 10000) >= 0);
	CHECK_OK(at_store_unlock(hold, "issue-" SHIM_NAME));
	at_store_close(hold);
	long ms = poll_serial(env.port, SHIM_ISSUE_TIMEOUT_MS, serial_a, sizeof serial_a);
	fprintf(stderr, "  A (port %d, Pebble's tlsPort, follower): %s after %ld ms\n", env.port,
		ms >= 0 ? serial_a : "never verified", ms);
	REQUIRE(ms >= 0);
	ms = poll_serial(port_b, 5000, serial_b, sizeof serial_b);
	CHECK(ms >= 0);
	if (ms >= 0)
		CHECK_STR(serial_b, serial_a);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	CHECK(!log_has(env.log, "leads the fleet"));
	CHECK(log_has(env.log, "published from the fleet's store"));
	CHECK(log_has(log_b, "through tls-alpn-01"));
	/* The leader's cleanup deleted the record: nothing left under challenges/. */
	CHECK(etcd_cluster_ctl_get(&cl, "fleet906/challenges/tls-alpn-01/" SHIM_NAME, got, sizeof got, &got_len) != 0 ||
	      got_len == 0);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(follower_answers_the_leaders_challenge);
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
