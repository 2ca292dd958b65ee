/*
 * Issue 11, acceptance 1: a real three-member etcd cluster, three nginx hosts (master + 2 workers each, separate
 * process trees, each its own AUTOTLS_STATE_DIR: no shared folder) behind a real TCP load balancer (HAProxy,
 * mode tcp, round robin) on the port Pebble validates TLS-ALPN-01 on. Whichever host the validation reaches
 * answers (the challenge goes through the store); every host serves a certificate that verifies for the name,
 * the same one; Pebble saw exactly one order. The test holds the engine's issue lock on etcd until all three
 * hosts watch the store, so that the validation cannot come before a host listens.
 */
#include "store/store.h"
#include "store/store_etcd.h"
#include "tests/harness/etcd.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/spawn.h"
#include "tests/test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HOSTS 3

static struct shim_env env;
static struct etcd_cluster cl;
static struct server srv[HOSTS];
static int port[HOSTS];
static char dir[HOSTS][400], alog[HOSTS][400], e_log[HOSTS][420], e_state[HOSTS][420];
static char *envp[HOSTS][20];
static char spec[300];
static pid_t lb_pid;

static long poll_serial(int p, long timeout_ms, char *serial, size_t cap)
{
	struct shim_env probe;
	memcpy(&probe, &env, sizeof(probe));
	probe.port = p;
	return shim_wait_serial(&probe, env.p.issuing_root_file, NULL, timeout_ms, serial, cap);
}

static int log_has(const char *path, const char *what)
{
	char *text = harness_read_file(path, NULL);
	int has = text && strstr(text, what) != NULL;
	free(text);
	return has;
}

static int start_haproxy(void)
{
	char cfg[600], out[600], text[1024];
	snprintf(cfg, sizeof cfg, "%s/haproxy-lb.cfg", env.dir);
	snprintf(out, sizeof out, "%s/haproxy-lb.out", env.dir);
	snprintf(text, sizeof text,
		 "global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n"
		 "  timeout server 10s\nfrontend fe\n  bind 127.0.0.1:%d\n  default_backend be\nbackend be\n"
		 "  balance roundrobin\n  server h0 127.0.0.1:%d\n  server h1 127.0.0.1:%d\n  server h2 127.0.0.1:%d\n",
		 env.port, port[0], port[1], port[2]);
	FILE *f = fopen(cfg, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	char *argv[] = { "haproxy", "-db", "-f", cfg, NULL };
	struct harness_spawn_opts o = { .argv = argv, .out_path = out, .drop_prefix = "LD_PRELOAD", .own_group = 1,
					.die_with_us = 1 };
	if (harness_spawn(&o, &lb_pid) != 0)
		return -1;
	for (long w0 = harness_now_ms(); harness_now_ms() - w0 < 5000; harness_sleep_ms(20))
		if (harness_tcp_connects(env.port))
			return 0;
	return -1;
}

static void three_hosts_one_order(void)
{
	char serial[HOSTS][80], lb_serial[80];
	long t0 = harness_now_ms();
	REQUIRE(etcd_cluster_start(&cl) == 0);
	REQUIRE(etcd_cluster_spec(&cl, "fleet907", spec, sizeof spec) == 0);
	shim_env_extra[0] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	int prepared = shim_env_prepare(&env, SERVER_NGINX) == 0;
	shim_env_extra[0] = NULL;
	REQUIRE(prepared);
	snprintf(env.e_storage, sizeof env.e_storage, "AUTOTLS_STORAGE=%s", spec);
	struct at_store *hold = NULL;
	REQUIRE(at_store_open_etcd(&hold, spec) == 0);
	REQUIRE(at_store_lock(hold, "issue-" SHIM_NAME, 30, 0) == 0);
	for (int h = 0; h < HOSTS; h++) {
		snprintf(dir[h], sizeof dir[h], "%s/h%d", env.dir, h);
		snprintf(alog[h], sizeof alog[h], "%s/h%d/autotls.log", env.dir, h);
		snprintf(e_log[h], sizeof e_log[h], "AUTOTLS_LOG=%s", alog[h]);
		snprintf(e_state[h], sizeof e_state[h], "AUTOTLS_STATE_DIR=%s/h%d/state", env.dir, h);
		REQUIRE(mkdir(dir[h], 0755) == 0);
		int k = 0;
		for (int i = 0; env.envp[i] != NULL && k < 17; i++)
			envp[h][k++] = strncmp(env.envp[i], "AUTOTLS_LOG=", 12) == 0 ? e_log[h] : env.envp[i];
		envp[h][k++] = e_state[h];
		envp[h][k] = NULL;
		port[h] = harness_free_port();
		REQUIRE(server_start(&srv[h], SERVER_NGINX, dir[h], port[h], envp[h]) == 0);
	}
	REQUIRE(start_haproxy() == 0);
	for (int h = 0; h < HOSTS; h++) {
		long w0 = harness_now_ms();
		while (!log_has(alog[h], "watches") && harness_now_ms() - w0 < 10000)
			harness_sleep_ms(20);
		REQUIRE(log_has(alog[h], "watches"));
	}
	/* Round robin starts at h0: connections through the balancer now make Pebble's validation, the next one,
	 * go to the host after the leader, a follower. */
	int lead = -1;
	for (int h = 0; h < HOSTS; h++)
		if (log_has(alog[h], "leads the fleet"))
			lead = h;
	REQUIRE(lead >= 0);
	for (int i = 0; i < (lead + 1) % HOSTS; i++)
		harness_tcp_connects(env.port);
	fprintf(stderr, "  host %d leads; the validation is aimed at host %d through HAProxy\n", lead, (lead + 1) % HOSTS);
	long t1 = harness_now_ms();
	CHECK_OK(at_store_unlock(hold, "issue-" SHIM_NAME));
	at_store_close(hold);
	int leaders = 0, answered_elsewhere = 0;
	for (int h = 0; h < HOSTS; h++) {
		long ms = poll_serial(port[h], SHIM_ISSUE_TIMEOUT_MS, serial[h], sizeof serial[h]);
		fprintf(stderr, "  host %d (port %d): %s at %ld ms after the lock was let go%s\n", h, port[h],
			ms >= 0 ? serial[h] : "never verified", harness_now_ms() - t1,
			log_has(alog[h], "leads the fleet") ? " (the fleet's leader)" : "");
		CHECK(ms >= 0);
		if (ms >= 0 && h > 0)
			CHECK_STR(serial[h], serial[0]);
		leaders += log_has(alog[h], "leads the fleet");
		answered_elsewhere += log_has(alog[h], "published from the fleet's store");
	}
	CHECK(poll_serial(env.port, 5000, lb_serial, sizeof lb_serial) >= 0);
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
	if (test_failed_total) {
		for (int h = 0; h < HOSTS; h++) {
			server_print_logs(&srv[h]);
			char *text = harness_read_file(alog[h], NULL);
			fprintf(stderr, "  --- %s ---\n%s\n", alog[h], text ? text : "(none)");
			free(text);
		}
	}
	if (lb_pid > 0)
		harness_stop_child(lb_pid, SIGTERM, 2000, 1);
	for (int h = 0; h < HOSTS; h++)
		server_stop(&srv[h]);
	shim_env_stop(&env);
	etcd_cluster_stop(&cl);
	fprintf(stderr, "  wall time %ld ms\n", harness_now_ms() - t0);
	return TEST_EXIT();
}
