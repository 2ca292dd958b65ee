/*
 * Starting a process tree's manager process, autotls-manager, installed beside libautotls.so.
 *
 * Why a process: nginx and Apache keep a root master, but lighttpd and stunnel drop to an unprivileged user in
 * the very process that made the contexts and then daemonise, and HAProxy's master re-executes itself; in
 * those trees no process that lives on can write the store. The first server context is made while the host
 * still has its privileges, so that is when the manager is started: it keeps them, holds the store's election
 * lock, and publishes into the tree's shared region (its memfd is the manager's fd 3).
 *
 * Detached (issue 9): the manager holds nothing of the host but what it is handed. posix_spawn starts it with
 * /dev/null on fds 0 and 1, the region on 3, the read end of a lifeline pipe on 4, the untrusted channel
 * (shim/channel.h) on 5, and every other descriptor closed (closefrom: listening sockets, configuration and log
 * files, the caller's pipes a host left without close-on-exec); fd 2 is /dev/null too unless the log goes to
 * stderr and stderr is a terminal (a terminal holds no caller's pipe open, and a person trying the shim by hand
 * sees the manager's lines). It gets its own session, default signals, and the host's environment without
 * LD_PRELOAD. What this process spawns is only an intermediate: autotls-manager forks the real manager at once and
 * exits (autotls_manager.c), so the manager is no child of the host (a master that waits for all its children, or
 * a shell's $(...), never waits for it), and the intermediate is reaped here, by the spawning thread, through a
 * pidfd of that exact process: nothing else of the host's is ever reaped, and no SIGCHLD handler is installed. The
 * wait is bounded (the intermediate exits within milliseconds, once its libraries are loaded).
 *
 * The region's fd 3 is the only read-write descriptor of it, and it is opened in the spawned child (a file
 * action reopening the read-only descriptor through /proc/self/fd, before the exec): this process never holds
 * one, so no fork of the host's can inherit one. The memfd is 0400 (shm_map.c); this process lifts it to 0600
 * for the spawn when it owns it (an unprivileged tree), and puts it back.
 *
 * The lifeline's write end stays open (close-on-exec) in this process and every process it forks; the manager
 * takes its end-of-file as a hint to check whether the tree still maps the region (autotls_manager.c), not as proof.
 */
#include "shim/preload/spawn.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_ENV 1024
/* The intermediate loads its libraries, forks and exits: 7 ms here, seconds under valgrind (test_480). */
#define REAP_WAIT_MS 10000

/* Waits for the intermediate pid (our child) to exit and reaps it, and only it. Returns 0 when it exited 0 or
 * was already reaped by the host (a host with a SIGCHLD handler that reaps everything, or SIGCHLD ignored),
 * AT_E_IO when it failed, AT_E_TIMEOUT when it did not exit in time (then it is left to the host). */
static int reap_intermediate(pid_t pid)
{
	siginfo_t si;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 && errno == ESRCH)
		return 0; /* already reaped by the host */
	if (pidfd < 0) {
		/* No pidfds (before Linux 5.3): poll the exact pid. */
		for (long waited = 0; waited < REAP_WAIT_MS; waited++) {
			int st = 0;
			pid_t r = waitpid(pid, &st, WNOHANG);
			if (r == pid)
				return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : AT_E_IO;
			if (r < 0 && errno != EINTR)
				return 0; /* ECHILD: the host reaped it */
			struct timespec ms = { 0, 1000000L };
			nanosleep(&ms, NULL);
		}
		return AT_E_TIMEOUT;
	}
	int rc = AT_E_TIMEOUT;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = REAP_WAIT_MS - ((t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0)
			break;
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		memset(&si, 0, sizeof(si));
		if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) != 0) {
			if (errno == EINTR)
				continue;
			rc = 0; /* ECHILD: the host reaped it in between */
		} else {
			rc = si.si_code == CLD_EXITED && si.si_status == 0 ? 0 : AT_E_IO;
		}
		break;
	}
	close(pidfd);
	return rc;
}

int spawn_manager(const char *path, int shm_fd, int chan_fd, int keep_stderr)
{
	int lifeline[2] = { -1, -1 };
	int fd3 = -1, fd5 = -1, rc = AT_E_IO;
	char region_path[64];
	pid_t pid = -1;
	char *envp[MAX_ENV + 1];
	size_t n = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	/* Above 10 so that the dup2 onto 3 and 4 never meets itself (which would keep close-on-exec). */
	fd3 = fcntl(shm_fd, F_DUPFD_CLOEXEC, 10);
	fd5 = fcntl(chan_fd, F_DUPFD_CLOEXEC, 10);
	if (fd3 < 0 || fd5 < 0 || pipe2(lifeline, O_CLOEXEC) != 0)
		goto out;
	snprintf(region_path, sizeof(region_path), "/proc/self/fd/%d", fd3);
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
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!keep_stderr)
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 3, region_path, O_RDWR, 0);
	posix_spawn_file_actions_adddup2(&fa, lifeline[0], 4);
	posix_spawn_file_actions_adddup2(&fa, fd5, 5);
	posix_spawn_file_actions_addclosefrom_np(&fa, 6);
	posix_spawnattr_init(&attr);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = { "autotls-manager", NULL };
	/* Only the owner (or a privileged process) can lift the mode; root's child opens it read-write anyway. */
	int lifted = fchmod(fd3, 0600) == 0;
	int src = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	if (lifted)
		fchmod(fd3, 0400);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (src != 0) {
		at_log_warn("cannot start %s: %s; this process will manage certificates itself", path, strerror(src));
		goto out;
	}
	rc = reap_intermediate(pid);
	if (rc == AT_E_TIMEOUT)
		at_log_warn("%s (pid %d) did not detach within %d ms; this process will manage certificates itself",
			    path, (int)pid, REAP_WAIT_MS);
	else if (rc != 0)
		at_log_warn("%s could not start (see its lines above); this process will manage certificates itself",
			    path);
	else
		lifeline[1] = -1; /* the write end is deliberately kept for the life of this process and its forks */
out:
	if (fd3 >= 0)
		close(fd3);
	if (fd5 >= 0)
		close(fd5);
	if (lifeline[0] >= 0)
		close(lifeline[0]);
	if (lifeline[1] >= 0)
		close(lifeline[1]);
	return rc;
}
