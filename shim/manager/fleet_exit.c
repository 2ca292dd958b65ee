/*
 * Giving the fleet's locks back at a clean exit (fleet.h, mgr_fleet_leave). Without it a leader that leaves
 * (its server stopped: tree_watch.c's _exit; a host process's exit() in the in-process case) leaves its leases
 * to run out: the fleet lock "manager" (MGR_FLEET_LEASE_S, 6 s) before another host may lead, and, when it left
 * in the middle of an order, the engine's issue lock (300 s) before anyone may order that certificate again.
 *
 * What it owns: the table of the etcd store objects whose locks this process must give back (the fleet's own,
 * fleet.c; the leader's engine store, lead.c), with the pid that registered each, under exit_mu. Who calls it:
 * the manager thread registers and unregisters (a store is unregistered before it is closed, so the leaving
 * thread never uses a closed one); the leaving thread (tree_watch.c's watch thread, or the host's thread in
 * exit()) calls mgr_fleet_leave once, just before the process ends. The store objects are safe to use from two
 * threads (store_etcd.c); fleet.c's own bookkeeping is not touched here: the process ends right after.
 * What it must never do: give back a parent's locks from a forked child (the pid is compared), or wait longer
 * than LEAVE_MS on an etcd that does not answer (the leases then end by themselves, as for a killed host).
 * Lock order: exit_mu, then the store's own (held_mu, the client's mutex).
 */
#include "shim/manager/fleet.h"
#include "store/store.h"
#include "store/store_etcd.h"
#include "util/log.h"

#include <pthread.h>
#include <unistd.h>

#define EXIT_STORES 4
#define LEAVE_MS 1500

static pthread_mutex_t exit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	struct at_store *s;
	pid_t pid;
} reg[EXIT_STORES];

void mgr_fleet_exit_add(struct at_store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&exit_mu);
	for (int i = 0; i < EXIT_STORES; i++) {
		if (reg[i].s == NULL || reg[i].pid != getpid()) {
			reg[i].s = s;
			reg[i].pid = getpid();
			break;
		}
	}
	pthread_mutex_unlock(&exit_mu);
}

void mgr_fleet_exit_remove(struct at_store *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&exit_mu);
	for (int i = 0; i < EXIT_STORES; i++)
		if (reg[i].s == s && reg[i].pid == getpid())
			reg[i].s = NULL;
	pthread_mutex_unlock(&exit_mu);
}

void mgr_fleet_leave(void)
{
	unsigned total = 0;
	pthread_mutex_lock(&exit_mu);
	for (int i = 0; i < EXIT_STORES; i++) {
		unsigned given = 0;
		if (reg[i].s == NULL || reg[i].pid != getpid())
			continue;
		if (at_store_etcd_give_back(reg[i].s, LEAVE_MS, &given) != 0)
			at_log_debug("pid %d leaving: a lock was not given back; its lease ends by itself", (int)getpid());
		reg[i].s = NULL; /* once: the process is ending */
		total += given;
	}
	pthread_mutex_unlock(&exit_mu);
	if (total > 0)
		at_log_info("pid %d leaving: gave back %u lock%s on the fleet's store", (int)getpid(), total,
			    total == 1 ? "" : "s");
}
