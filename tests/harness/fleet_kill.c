/* Killing a fleet's host, and placing the etcd leader (see fleet_kill.h). */
#include "tests/harness/fleet_kill.h"
#include "tests/harness/command.h"
#include "tests/harness/fetch.h"
#include "tests/harness/proc.h"
#include "tests/harness/procfs.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANAGERS_MAX 16

pid_t fleet_host_manager(const struct fleet *f, int h)
{
	pid_t pids[MANAGERS_MAX];
	int n = procfs_find_managers(f->spec, pids, MANAGERS_MAX);
	for (int i = 0; i < n && i < MANAGERS_MAX; i++)
		if (procfs_env_has(pids[i], f->host[h].e_log))
			return pids[i];
	return 0;
}

int fleet_host_kill(struct fleet *f, int h, pid_t *mgr)
{
	struct server *s = &f->host[h].srv;
	pid_t pgid = s->pgid > 0 ? s->pgid : s->pid;
	pid_t m = fleet_host_manager(f, h);
	if (mgr)
		*mgr = m;
	if (pgid <= 1)
		return -1;
	/* Both before either dies: the manager notices its tree's end within a second and might act on it. */
	kill(-pgid, SIGKILL);
	if (m > 0)
		kill(m, SIGKILL);
	return 0;
}

/* Member i's member_id (decimal, as the gateway writes it) into id. 0 or -1. */
static int member_id(const struct etcd_cluster *c, int i, unsigned long long *id)
{
	char url[80], *body = NULL;
	long status = 0;
	int rc = -1;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v3/maintenance/status", c->client_port[i]);
	if (harness_fetch(&status, &body, NULL, "POST", url, NULL, "{}", 1000) == 0 && status == 200 && body) {
		const char *m = strstr(body, "\"member_id\":\"");
		if (m && sscanf(m + 13, "%llu", id) == 1)
			rc = 0;
	}
	free(body);
	return rc;
}

int etcd_cluster_move_leader(struct etcd_cluster *c, int to, long timeout_ms)
{
	char cmd[512], out[2048];
	unsigned long long id = 0;
	long t0 = harness_now_ms();
	if (member_id(c, to, &id) != 0)
		return -1;
	while (harness_now_ms() - t0 < timeout_ms) {
		int lead = etcd_cluster_leader(c);
		if (lead == to)
			return 0;
		if (lead >= 0) {
			snprintf(cmd, sizeof cmd, "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:%d move-leader %llx 2>&1",
				 c->client_port[lead], id);
			if (harness_command(cmd, out, sizeof out) != 0)
				fprintf(stderr, "  etcdctl move-leader: %s\n", out);
		}
		harness_sleep_ms(100);
	}
	return etcd_cluster_leader(c) == to ? 0 : -1;
}
