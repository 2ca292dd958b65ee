/*
 * Starting a process tree's manager process, autotls-manager, installed beside libautotls.so.
 *
 * Why a process: nginx and Apache keep a root master, but lighttpd and stunnel drop to an unprivileged user in
 * the very process that made the contexts and then daemonise, and HAProxy's master re-executes itself; in
 * those trees no process that lives on can write the store. The first server context is made while the host
 * still has its privileges, so that is when the manager is started: it keeps them, holds the store's election
 * lock, and publishes into the tree's shared region (its memfd is the manager's fd 3).
 *
 * Its fd 4 is the read end of a lifeline pipe whose write end stays open (close-on-exec) in this process and
 * in every process it forks: when the last of them is gone the manager sees end-of-file and exits. It gets the
 * host's environment without LD_PRELOAD, its own session, default signals, and /dev/null as input.
 */
#include "shim/preload/spawn.h"
#include "util/log.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define MAX_ENV 1024

int spawn_manager(const char *path, int shm_fd, pid_t *pid_out)
{
	int lifeline[2] = { -1, -1 };
	int fd3 = -1;
	pid_t pid = -1;
	char *envp[MAX_ENV + 1];
	size_t n = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	/* Above 10 so that the dup2 onto 3 and 4 never meets itself (which would keep close-on-exec). */
	fd3 = fcntl(shm_fd, F_DUPFD_CLOEXEC, 10);
	if (fd3 < 0 || pipe2(lifeline, O_CLOEXEC) != 0)
		goto out;
	int r = fcntl(lifeline[0], F_DUPFD_CLOEXEC, 10);
	close(lifeline[0]);
	lifeline[0] = r;
	if (lifeline[0] < 0)
		goto out;
	for (char **e = environ; e && *e && n < MAX_ENV; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			envp[n++] = *e;
	envp[n] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fd3, 3);
	posix_spawn_file_actions_adddup2(&fa, lifeline[0], 4);
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = { "autotls-manager", NULL };
	int rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		at_log_warn("cannot start %s: %s; this process will manage certificates itself", path, strerror(rc));
		pid = -1;
		goto out;
	}
	/* The write end is deliberately kept for the life of this process and its forks. */
	lifeline[1] = -1;
out:
	if (fd3 >= 0)
		close(fd3);
	if (lifeline[0] >= 0)
		close(lifeline[0]);
	if (lifeline[1] >= 0)
		close(lifeline[1]);
	if (pid < 0)
		return AT_E_IO;
	*pid_out = pid;
	return 0;
}
