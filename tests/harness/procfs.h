/*
 * Processes as /proc shows them, for the tests of the manager process's detachment and takeover: a process's
 * parent, group, session, state and start time, its descriptors' link targets, and the autotls-manager
 * processes that serve a given store (found by the AUTOTLS_STORAGE in their environment, so that tests running
 * at once never see each other's).
 */
#ifndef AUTOTLS_TESTS_HARNESS_PROCFS_H
#define AUTOTLS_TESTS_HARNESS_PROCFS_H

#include <sys/types.h>

struct procfs_stat {
	pid_t pid, ppid, pgid, sid;
	char state;                /* 'R', 'S', 'Z', ... */
	unsigned long long start;  /* field 22: start time in clock ticks since boot */
	char comm[32];
};

/* 0 with out filled, or -1 when pid is gone (or unreadable). */
int procfs_stat(pid_t pid, struct procfs_stat *out);

/* Calls fn for each open descriptor of pid with its link target ("/dev/null", "socket:[123]", ...). The
 * number of descriptors, or -1 when they cannot be listed. */
int procfs_each_fd(pid_t pid, void (*fn)(int fd, const char *target, void *arg), void *arg);

/* 1 when pid's environment holds exactly the entry "name=value". */
int procfs_env_has(pid_t pid, const char *entry);

/* Live (not zombie) autotls-manager processes whose AUTOTLS_STORAGE is store: up to max pids into out.
 * Returns how many there are (may exceed max). */
int procfs_find_managers(const char *store, pid_t *out, int max);

/* Processes whose process group is pgid (the members of a daemon's group): up to max pids. Returns the count. */
int procfs_group_members(pid_t pgid, pid_t *out, int max);

#endif
