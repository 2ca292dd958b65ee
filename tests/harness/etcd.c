/* The three-member etcd cluster of the fleet scenarios (tests/harness/etcd.h). */
#include "tests/harness/etcd.h"
#include "tests/harness/fetch.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void stop_cb(void *obj)
{
	etcd_cluster_stop(obj);
}

static int port_taken(const struct etcd_cluster *c, int port, int upto)
{
	for (int i = 0; i < upto; i++)
		if (c->client_port[i] == port || c->peer_port[i] == port)
			return 1;
	return 0;
}

static int spawn_member(struct etcd_cluster *c, int i, const char *cluster)
{
	char name[16], data[PATH_MAX + 32], curl[64], purl[64];
	snprintf(name, sizeof name, "m%d", i);
	snprintf(data, sizeof data, "%s/%s", c->workdir, name);
	snprintf(curl, sizeof curl, "http://127.0.0.1:%d", c->client_port[i]);
	snprintf(purl, sizeof purl, "http://127.0.0.1:%d", c->peer_port[i]);
	snprintf(c->log[i], sizeof c->log[i], "%s/%s.log", c->workdir, name);
	char *argv[] = { "etcd", "--name", name, "--data-dir", data, "--listen-client-urls", curl,
			 "--advertise-client-urls", curl, "--listen-peer-urls", purl,
			 "--initial-advertise-peer-urls", purl, "--initial-cluster", (char *)cluster,
			 "--initial-cluster-state", "new", "--initial-cluster-token", "autotls-test",
			 "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn", NULL };
	struct harness_spawn_opts o = { .argv = argv, .out_path = c->log[i], .die_with_us = 1 };
	/* ETCDCTL_ and ETCD_ variables of the caller would configure the member too. */
	o.drop_prefix = "ETCD";
	return harness_spawn(&o, &c->pid[i]);
}

static int healthy(int port)
{
	char url[64], *body = NULL;
	long status = 0;
	int ok;

	snprintf(url, sizeof url, "http://127.0.0.1:%d/health", port);
	if (harness_fetch(&status, &body, NULL, "GET", url, NULL, NULL, 1000) != 0)
		return 0;
	ok = status == 200 && body && strstr(body, "\"true\"") != NULL;
	free(body);
	return ok;
}

int etcd_cluster_wait_healthy(struct etcd_cluster *c, long timeout_ms)
{
	long end = harness_now_ms() + timeout_ms;
	for (;;) {
		int all = 1;
		for (int i = 0; i < ETCD_MEMBERS; i++)
			if (c->pid[i] > 0 && !healthy(c->client_port[i]))
				all = 0;
		if (all)
			return 0;
		if (harness_now_ms() > end)
			return -1;
		harness_sleep_ms(100);
	}
}

int etcd_cluster_start(struct etcd_cluster *c)
{
	char cluster[512];
	size_t off = 0;
	const char *tmp = getenv("TMPDIR");

	memset(c, 0, sizeof *c);
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 200)
		tmp = "/tmp";
	snprintf(c->workdir, sizeof c->workdir, "%s/autotls-etcd-XXXXXX", tmp);
	if (mkdtemp(c->workdir) == NULL) {
		fprintf(stderr, "etcd_cluster_start: mkdtemp: %s\n", strerror(errno));
		c->workdir[0] = '\0';
		return -1;
	}
	for (int i = 0; i < ETCD_MEMBERS; i++) {
		int p;
		do
			p = harness_free_port();
		while (port_taken(c, p, i) || p <= 0);
		c->client_port[i] = p;
		do
			p = harness_free_port();
		while (port_taken(c, p, i + 1) || p == c->client_port[i] || p <= 0);
		c->peer_port[i] = p;
		off += (size_t)snprintf(cluster + off, sizeof cluster - off, "%sm%d=http://127.0.0.1:%d", i ? "," : "",
					i, c->peer_port[i]);
	}
	snprintf(c->endpoints, sizeof c->endpoints, "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", c->client_port[0],
		 c->client_port[1], c->client_port[2]);
	harness_reg_add(c, stop_cb);
	for (int i = 0; i < ETCD_MEMBERS; i++) {
		if (spawn_member(c, i, cluster) != 0) {
			fprintf(stderr, "etcd_cluster_start: cannot start etcd (is etcd-server installed?)\n");
			etcd_cluster_stop(c);
			return -1;
		}
	}
	if (etcd_cluster_wait_healthy(c, 20000) != 0) {
		fprintf(stderr, "etcd_cluster_start: the cluster did not become healthy in 20 s\n");
		for (int i = 0; i < ETCD_MEMBERS; i++)
			harness_print_tail(NULL, c->log[i], 1500);
		etcd_cluster_stop(c);
		return -1;
	}
	return 0;
}

/* member_id and leader of member i's status, as the decimal strings the gateway writes. */
int etcd_cluster_leader(struct etcd_cluster *c)
{
	for (int i = 0; i < ETCD_MEMBERS; i++) {
		char url[80], *body = NULL, id[32] = "", leader[32] = "";
		long status = 0;
		if (c->pid[i] <= 0)
			continue;
		snprintf(url, sizeof url, "http://127.0.0.1:%d/v3/maintenance/status", c->client_port[i]);
		if (harness_fetch(&status, &body, NULL, "POST", url, NULL, "{}", 1000) != 0 || status != 200 ||
		    body == NULL) {
			free(body);
			continue;
		}
		const char *m = strstr(body, "\"member_id\":\"");
		const char *l = strstr(body, "\"leader\":\"");
		if (m && l) {
			sscanf(m + 13, "%31[0-9]", id);
			sscanf(l + 10, "%31[0-9]", leader);
		}
		free(body);
		if (id[0] && strcmp(id, leader) == 0)
			return i;
	}
	return -1;
}

void etcd_cluster_kill(struct etcd_cluster *c, int i)
{
	if (i < 0 || i >= ETCD_MEMBERS || c->pid[i] <= 0)
		return;
	harness_stop_child(c->pid[i], SIGKILL, 2000, 0);
	c->pid[i] = 0;
}

void etcd_cluster_stop(struct etcd_cluster *c)
{
	for (int i = 0; i < ETCD_MEMBERS; i++) {
		if (c->pid[i] > 0)
			harness_stop_child(c->pid[i], SIGTERM, 3000, 0);
		c->pid[i] = 0;
	}
	harness_reg_remove(c);
	if (c->workdir[0])
		harness_remove_or_keep(c->workdir);
	c->workdir[0] = '\0';
}

int etcd_cluster_spec(const struct etcd_cluster *c, const char *prefix, char *out, size_t size)
{
	int n = snprintf(out, size, "etcd://%s/%s", c->endpoints, prefix);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int etcd_cluster_ctl_get(const struct etcd_cluster *c, const char *key, char *out, size_t cap, size_t *len)
{
	char cmd[1024];
	size_t n = 0;
	FILE *f;

	snprintf(cmd, sizeof cmd, "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:%d,http://127.0.0.1:%d,"
		 "http://127.0.0.1:%d get '%s' --print-value-only 2>/dev/null", c->client_port[0], c->client_port[1],
		 c->client_port[2], key);
	f = popen(cmd, "r");
	if (f == NULL || cap == 0)
		return -1;
	n = fread(out, 1, cap - 1, f);
	out[n] = '\0';
	if (len)
		*len = n;
	return pclose(f) == 0 ? 0 : -1;
}
