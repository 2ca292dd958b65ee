/*
 * Issue 11, acceptance 2: the fleet of test_907 (three-member etcd, three nginx hosts with no shared folder,
 * HAProxy in TCP mode, round robin, on Pebble's tlsPort) with 30-second certificates, renewed by the leader at
 * least twice while a client loops: each round one handshake through the balancer (once every host serves the
 * first certificate, it must verify every time, through both renewals: 0 failed) and
 * one at each host directly, which records when each host first served each serial. Every host must serve each
 * new serial within 1 s of the first host that served it (the spread is printed), and Pebble sees one order per
 * serial.
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
#include <time.h>

#define HOSTS 3

static struct shim_env env;
static struct etcd_cluster cl;
static struct server srv[HOSTS];
static int port[HOSTS];
static char dir[HOSTS][400], alog[HOSTS][400], e_log[HOSTS][420], e_state[HOSTS][420];
static char *envp[HOSTS][20];
static char spec[300];
static pid_t lb_pid;

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

static void renewals_reach_every_host(void)
{
	REQUIRE(etcd_cluster_start(&cl) == 0);
	REQUIRE(etcd_cluster_spec(&cl, "fleet908", spec, sizeof spec) == 0);
	shim_env_extra[0] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	shim_env_validity_s = 30;
	int prepared = shim_env_prepare(&env, SERVER_NGINX) == 0;
	shim_env_validity_s = 0;
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
	/* The loop: until three serials (the first and two renewals) have reached every host, or 60 s. */
	char seen[8][80];
	long first_at[8][HOSTS];
	int nseen = 0, failed = 0, rounds = 0, lb_ok = 0;
	memset(first_at, 0, sizeof first_at);
	while (harness_now_ms() - t1 < 60000) {
		struct shim_env probe;
		struct tls_client_result r;
		memcpy(&probe, &env, sizeof(probe));
		rounds++;
		/* Counted once every host serves the first certificate (before, a host still serving its own
		 * placeholder fails verification, as it should): from then on, through the renewals, never. */
		int ready = nseen > 0;
		for (int h = 0; h < HOSTS; h++)
			ready = ready && first_at[0][h] != 0;
		memset(&r, 0, sizeof r);
		if (shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) == 0) {
			lb_ok++;
		} else if (ready) {
			failed++;
			fprintf(stderr, "  a handshake through HAProxy failed at %ld ms: serial \"%s\", subject \"%s\", "
				"verify %ld, not after %+lld s\n", harness_now_ms() - t1, r.serial, r.subject,
				r.verify_result, r.not_after ? r.not_after - (long long)time(NULL) : 0);
		}
		int all = nseen >= 3;
		for (int h = 0; h < HOSTS; h++) {
			probe.port = port[h];
			if (shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) != 0)
				continue;
			int k = 0;
			while (k < nseen && strcmp(seen[k], r.serial) != 0)
				k++;
			if (k == nseen && nseen < 8)
				snprintf(seen[nseen++], sizeof seen[0], "%s", r.serial);
			if (k < 8 && first_at[k][h] == 0)
				first_at[k][h] = harness_now_ms() - t1;
		}
		for (int k = 0; k < 3 && k < nseen; k++)
			for (int h = 0; h < HOSTS; h++)
				all = all && first_at[k][h] != 0;
		if (all)
			break;
		harness_sleep_ms(20);
	}
	fprintf(stderr, "  %d rounds, %d handshakes through HAProxy verified, %d failed\n", rounds, lb_ok, failed);
	CHECK_INT(failed, ==, 0);
	CHECK(nseen >= 3);
	for (int k = 0; k < nseen; k++) {
		long lo = -1, hi = -1;
		int missing = 0;
		for (int h = 0; h < HOSTS; h++) {
			if (first_at[k][h] == 0) {
				missing++;
				continue;
			}
			lo = lo < 0 || first_at[k][h] < lo ? first_at[k][h] : lo;
			hi = first_at[k][h] > hi ? first_at[k][h] : hi;
		}
		fprintf(stderr, "  serial %s: first served at %ld ms, by every host within %ld ms%s\n", seen[k], lo, hi - lo,
			missing ? " (not every host saw it)" : "");
		if (k < 3) {
			CHECK_INT(missing, ==, 0);
			CHECK(hi - lo <= 1000);
		}
	}
	CHECK_INT(pebble_count_orders(&env.p), ==, nseen);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(renewals_reach_every_host);
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
