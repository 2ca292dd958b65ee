/*
 * The kills of issue 11's acceptance 3 (test_909): a host of an etcd fleet killed as a machine dies (SIGKILL to
 * its whole process tree: the server's process group and the tree's autotls-manager, which runs in a session of
 * its own), and the etcd leader moved onto the member the hosts talk to first, so that killing the leader also
 * cuts the hosts' first member. Used by the tests alone; they kill only processes they started.
 */
#ifndef AUTOTLS_TESTS_HARNESS_FLEET_KILL_H
#define AUTOTLS_TESTS_HARNESS_FLEET_KILL_H

#include "tests/harness/etcd.h"
#include "tests/harness/fleet.h"

#include <sys/types.h>

/* The live autotls-manager of host h (its AUTOTLS_STORAGE the fleet's, its AUTOTLS_LOG the host's), or 0. */
pid_t fleet_host_manager(const struct fleet *f, int h);

/* SIGKILLs host h's whole tree at once: the server's process group (master and workers) and its manager
 * process; *mgr (may be NULL) the manager's pid, 0 when none was found. 0, or -1 when the server has no group. The
 * host stays counted: fleet_stop reaps what is left (the watchdog). */
int fleet_host_kill(struct fleet *f, int h, pid_t *mgr);

/* Makes member to the cluster's leader (etcdctl move-leader) and waits until it says so: 0, or -1 after
 * timeout_ms. */
int etcd_cluster_move_leader(struct etcd_cluster *c, int to, long timeout_ms);

#endif
