/*
 * A three-member etcd cluster (Debian's etcd-server) on loopback for the fleet scenarios (test_9xx): free client
 * and peer ports, one data folder per member in a fresh temporary folder, fast elections (heartbeat 50 ms,
 * election timeout 500 ms) so a killed leader is replaced within a second. Stopped at exit if a test forgets.
 */
#ifndef AUTOTLS_TESTS_HARNESS_ETCD_H
#define AUTOTLS_TESTS_HARNESS_ETCD_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#define ETCD_MEMBERS 3

struct etcd_cluster {
	pid_t pid[ETCD_MEMBERS];        /* 0: not running */
	int client_port[ETCD_MEMBERS];
	int peer_port[ETCD_MEMBERS];
	char workdir[PATH_MAX];
	char log[ETCD_MEMBERS][PATH_MAX + 32];
	char endpoints[256];            /* "127.0.0.1:C0,127.0.0.1:C1,127.0.0.1:C2" (etcdctl wants http:// added) */
};

/* Starts the three members and waits (up to 20 s) until each says it is healthy. 0 or -1 (why printed; what
 * started is stopped). */
int etcd_cluster_start(struct etcd_cluster *c);

/* Waits until every running member is healthy (a leader elected). 0 or -1 after timeout_ms. */
int etcd_cluster_wait_healthy(struct etcd_cluster *c, long timeout_ms);

/* The index of the current leader (asked of the running members), or -1. */
int etcd_cluster_leader(struct etcd_cluster *c);

/* SIGKILLs member i and reaps it. */
void etcd_cluster_kill(struct etcd_cluster *c, int i);

/* Stops every member (SIGTERM, then SIGKILL) and removes the folder. Safe twice. */
void etcd_cluster_stop(struct etcd_cluster *c);

/* "etcd://127.0.0.1:C0,.../prefix" into out. 0 or -1 (too small). */
int etcd_cluster_spec(const struct etcd_cluster *c, const char *prefix, char *out, size_t size);

/* `etcdctl get KEY --print-value-only` against the running members, its output into out (cap bytes, raw,
 * NUL-terminated after *len bytes). 0 or -1. */
int etcd_cluster_ctl_get(const struct etcd_cluster *c, const char *key, char *out, size_t cap, size_t *len);

#endif
