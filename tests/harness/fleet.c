/* More hosts beside a shim_env's server, and the etcd fleets of test_9xx (see fleet.h). */
#include "tests/harness/fleet.h"
#include "store/store.h"
#include "store/store_etcd.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/procfs.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/spawn.h"
#include "tests/test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int fleet_host_start(struct fleet_host *h, const struct shim_env *e, enum server_kind kind, const char *name,
		     int own_state)
{
	snprintf(h->dir, sizeof h->dir, "%s/%s", e->dir, name);
	snprintf(h->log, sizeof h->log, "%s/%s/autotls.log", e->dir, name);
	snprintf(h->e_log, sizeof h->e_log, "AUTOTLS_LOG=%s", h->log);
	snprintf(h->e_state, sizeof h->e_state, "AUTOTLS_STATE_DIR=%s/%s/state", e->dir, name);
	if (mkdir(h->dir, 0755) != 0) {
		fprintf(stderr, "  mkdir %s: %s\n", h->dir, strerror(errno));
		return -1;
	}
	int k = 0, stated = 0;
	for (int i = 0; e->envp[i] != NULL && k < 22; i++) {
		if (strncmp(e->envp[i], "AUTOTLS_LOG=", 12) == 0) {
			h->envp[k++] = h->e_log;
		} else if (h->e_http[0] != '\0' && strncmp(e->envp[i], "AUTOTLS_HTTP_PORT=", 18) == 0) {
			h->envp[k++] = h->e_http;
		} else if (own_state && strncmp(e->envp[i], "AUTOTLS_STATE_DIR=", 18) == 0) {
			h->envp[k++] = h->e_state;
			stated = 1;
		} else {
			h->envp[k++] = e->envp[i];
		}
	}
	if (own_state && !stated)
		h->envp[k++] = h->e_state;
	h->envp[k] = NULL;
	h->port = harness_free_port();
	h->started = server_start(&h->srv, kind, h->dir, h->port, h->envp) == 0;
	return h->started ? 0 : -1;
}

void fleet_host_dump(const struct fleet_host *h)
{
	server_print_logs(&h->srv);
	char *text = harness_read_file(h->log, NULL);
	fprintf(stderr, "  --- %s ---\n%s\n", h->log, text ? text : "(none)");
	free(text);
}

long fleet_wait_serial(const struct shim_env *e, int port, const char *old, long timeout_ms, char *serial, size_t cap)
{
	struct shim_env probe;
	memcpy(&probe, e, sizeof(probe));
	probe.port = port;
	return shim_wait_serial(&probe, e->p.issuing_root_file, old, timeout_ms, serial, cap);
}

int fleet_log_has(const char *path, const char *what)
{
	char *text = harness_read_file(path, NULL);
	int has = text && strstr(text, what) != NULL;
	free(text);
	return has;
}

int fleet_log_wait(const char *path, const char *what, long timeout_ms)
{
	long t0 = harness_now_ms();
	while (!fleet_log_has(path, what) && harness_now_ms() - t0 < timeout_ms)
		harness_sleep_ms(20);
	return fleet_log_has(path, what) ? 0 : -1;
}

int fleet_etcd_start(struct fleet *f, const char *prefix)
{
	if (etcd_cluster_start(&f->cl) != 0)
		return -1;
	return etcd_cluster_spec(&f->cl, prefix, f->spec, sizeof f->spec);
}

int fleet_prepare(struct fleet *f, const char *state_sub, const char *extra)
{
	struct shim_env *e = f->env;
	int k = 0;
	if (state_sub != NULL)
		shim_env_extra[k++] = f->e_state; /* filled below, once the folder is known (the pointer is borrowed) */
	if (extra != NULL)
		shim_env_extra[k++] = extra;
	int rc = shim_env_prepare(e, SERVER_NGINX);
	while (k > 0)
		shim_env_extra[--k] = NULL;
	if (rc != 0)
		return -1;
	if (state_sub != NULL)
		snprintf(f->e_state, sizeof f->e_state, "AUTOTLS_STATE_DIR=%s/%s", e->dir, state_sub);
	snprintf(e->e_storage, sizeof e->e_storage, "AUTOTLS_STORAGE=%s", f->spec);
	return 0;
}

int fleet_hold_issue(struct fleet *f)
{
	if (at_store_open_etcd(&f->hold, f->spec) != 0)
		return -1;
	return at_store_lock(f->hold, "issue-" SHIM_NAME, 30, 0) == 0 ? 0 : -1;
}

int fleet_release_issue(struct fleet *f)
{
	int rc = at_store_unlock(f->hold, "issue-" SHIM_NAME);
	at_store_close(f->hold);
	f->hold = NULL;
	return rc;
}

int fleet_add_host(struct fleet *f, const char *name)
{
	if (f->n >= FLEET_HOSTS_MAX)
		return -1;
	/* Counted before it starts: a host whose start failed is dumped and stopped with the others. */
	struct fleet_host *h = &f->host[f->n++];
	return fleet_host_start(h, f->env, SERVER_NGINX, name, 1);
}

int fleet_add_host_http(struct fleet *f, const char *name, int http_port)
{
	if (f->n >= FLEET_HOSTS_MAX)
		return -1;
	snprintf(f->host[f->n].e_http, sizeof f->host[f->n].e_http, "AUTOTLS_HTTP_PORT=%d", http_port);
	return fleet_add_host(f, name);
}

int fleet_start_hosts(struct fleet *f, int n)
{
	char name[16];
	for (int h = 0; h < n; h++) {
		snprintf(name, sizeof name, "h%d", h);
		if (fleet_add_host(f, name) != 0)
			return -1;
	}
	return 0;
}

int fleet_start_haproxy(struct fleet *f)
{
	char cfg[600], out[600], text[2048];
	snprintf(cfg, sizeof cfg, "%s/haproxy-lb.cfg", f->env->dir);
	snprintf(out, sizeof out, "%s/haproxy-lb.out", f->env->dir);
	int len = snprintf(text, sizeof text,
			   "global\n  maxconn 200\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n"
			   "  timeout server 10s\nfrontend fe\n  bind 127.0.0.1:%d\n  default_backend be\nbackend be\n"
			   "  balance roundrobin\n",
			   f->env->port);
	for (int h = 0; h < f->n && len > 0 && (size_t)len < sizeof text; h++)
		len += snprintf(text + len, sizeof text - (size_t)len, "  server h%d 127.0.0.1:%d%s%s\n", h,
				f->host[h].port, f->lb_server_opts ? " " : "", f->lb_server_opts ? f->lb_server_opts : "");
	if (len <= 0 || (size_t)len >= sizeof text)
		return -1;
	FILE *fp = fopen(cfg, "w");
	if (fp == NULL)
		return -1;
	fputs(text, fp);
	fclose(fp);
	char *argv[] = { "haproxy", "-db", "-f", cfg, NULL };
	struct harness_spawn_opts o = { .argv = argv, .out_path = out, .drop_prefix = "LD_PRELOAD", .own_group = 1,
					.die_with_us = 1 };
	if (harness_spawn(&o, &f->lb_pid) != 0)
		return -1;
	for (long w0 = harness_now_ms(); harness_now_ms() - w0 < 5000; harness_sleep_ms(20))
		if (harness_tcp_connects(f->env->port))
			return 0;
	return -1;
}

int fleet_wait_all_watch(struct fleet *f, long timeout_ms)
{
	for (int h = 0; h < f->n; h++)
		if (fleet_log_wait(f->host[h].log, "watches", timeout_ms) != 0)
			return -1;
	return 0;
}

int fleet_leader(const struct fleet *f)
{
	int lead = -1;
	for (int h = 0; h < f->n; h++)
		if (fleet_log_has(f->host[h].log, "leads the fleet"))
			lead = h;
	return lead;
}

void fleet_aim_after(struct fleet *f, int lead)
{
	for (int i = 0; i < (lead + 1) % f->n; i++)
		harness_tcp_connects(f->env->port);
	fprintf(stderr, "  host %d leads; the validation is aimed at host %d through HAProxy\n", lead, (lead + 1) % f->n);
}

int fleet_behind_haproxy(struct fleet *f, int n)
{
	if (fleet_hold_issue(f) != 0 || fleet_start_hosts(f, n) != 0)
		return -1;
	if (fleet_start_haproxy(f) != 0) {
		fprintf(stderr, "  HAProxy did not start on port %d\n", f->env->port);
		return -1;
	}
	if (fleet_wait_all_watch(f, 10000) != 0) {
		fprintf(stderr, "  not every host watches the store\n");
		return -1;
	}
	/* Round robin starts at h0: connections through the balancer now make Pebble's validation, the next one,
	 * go to the host after the leader, a follower. */
	int lead = fleet_leader(f);
	if (lead < 0) {
		fprintf(stderr, "  no host leads the fleet\n");
		return -1;
	}
	fleet_aim_after(f, lead);
	return lead;
}

void fleet_dump(const struct fleet *f)
{
	for (int h = 0; h < f->n; h++)
		fleet_host_dump(&f->host[h]);
}

/* Every host's autotls-manager process must leave once its server is gone (its tree watch notices within a
 * second, gives the fleet's locks back and exits), etcd still up: the number still there after
 * MANAGERS_GONE_MS, each SIGKILLed and named (a manager that outlives its server is a process we left on the
 * host). */
#define MANAGERS_GONE_MS 10000
static int managers_left(const struct fleet *f)
{
	pid_t pids[32];
	int n = 0;
	long t0 = harness_now_ms();
	if (f->spec[0] == '\0')
		return 0;
	while ((n = procfs_find_managers(f->spec, pids, 32)) > 0 && harness_now_ms() - t0 < MANAGERS_GONE_MS)
		harness_sleep_ms(100);
	for (int i = 0; i < n && i < 32; i++) {
		fprintf(stderr, "  autotls-manager pid %d (AUTOTLS_STORAGE=%s) outlived its server by %d ms; killed\n",
			(int)pids[i], f->spec, MANAGERS_GONE_MS);
		kill(pids[i], SIGKILL);
	}
	return n;
}

int fleet_stop(struct fleet *f)
{
	if (f->lb_pid > 0)
		harness_stop_child(f->lb_pid, SIGTERM, 2000, 1);
	f->lb_pid = 0;
	for (int h = 0; h < f->n; h++)
		server_stop(&f->host[h].srv);
	if (f->hold != NULL) {
		at_store_close(f->hold);
		f->hold = NULL;
	}
	if (f->env != NULL)
		shim_env_stop(f->env);
	int left = managers_left(f);
	if (left > 0)
		test_fail("%d autotls-manager process(es) of the fleet outlived their servers", left);
	etcd_cluster_stop(&f->cl);
	f->spec[0] = '\0';
	return left;
}

int fleet_end(struct fleet *f, int dump_env, long t0)
{
	if (test_failed_total) {
		if (dump_env)
			shim_env_dump(f->env);
		fleet_dump(f);
	}
	/* After the test functions: a line of its own, so that the runner counts it. */
	int left = fleet_stop(f);
	printf("%s %s:managers_leave_with_their_servers\n", left > 0 ? "FAIL" : "PASS", __FILE__);
	fflush(stdout);
	test_repeat_failures();
	if (left > 0)
		test_failed_total++;
	else
		test_passed_total++;
	fprintf(stderr, "  wall time %ld ms\n", harness_now_ms() - t0);
	return TEST_EXIT();
}
