/*
 * The tree's manager process is detached from the host (issue 9, acceptance 1). nginx daemonising under the
 * preload, started the way `x=$(nginx ...)` starts it (stdout and stderr a pipe the caller reads to its end): the
 * caller's read ends in under a second, as it does without the preload, because autotls-manager holds nothing of
 * the host's: fds 0-2 are /dev/null, 3 is the region, 4 the lifeline, 5 the untrusted channel, and no other
 * descriptor is one nginx has (no listening socket, no error.log, no nginx.conf, not the caller's pipe), except
 * the shim's own log file, which the manager opens itself. Its parent is not nginx (its intermediate exited;
 * orphans come to this test, a subreaper), and it is in a session of its own. It still manages: the stored
 * certificate is served, and when nginx stops the manager exits.
 */
#include "tests/harness/procfs.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define RETURN_LIMIT_MS 1000
#define READ_CAP_MS 10000

struct fdset {
	int n;
	char target[256][160];
};

static void collect(int fd, const char *target, void *arg)
{
	struct fdset *s = arg;
	(void)fd;
	if (s->n < 256)
		snprintf(s->target[s->n++], sizeof(s->target[0]), "%s", target);
}

static int fdset_has(const struct fdset *s, const char *target)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->target[i], target) == 0)
			return 1;
	return 0;
}

struct mgr_check {
	const struct fdset *host;
	const char *log;      /* the shim's log: the manager opens it itself */
	char capture[64];     /* "pipe:[ino]" of the caller's pipe */
	int bad;
};

static void check_manager_fd(int fd, const char *target, void *arg)
{
	struct mgr_check *c = arg;
	int ok;
	if (fd <= 2)
		ok = strcmp(target, "/dev/null") == 0;
	else if (fd == 3)
		ok = strcmp(target, "/memfd:autotls (deleted)") == 0;
	else if (fd == 4)
		ok = strncmp(target, "pipe:", 5) == 0 && strcmp(target, c->capture) != 0;
	else if (fd == 5) /* the untrusted channel (shim/channel.h), handed like the region */
		ok = strcmp(target, "/memfd:autotls-chan (deleted)") == 0;
	else
		ok = strcmp(target, c->log) == 0 || !fdset_has(c->host, target);
	ok = ok && strcmp(target, c->capture) != 0;
	if (!ok) {
		fprintf(stderr, "  autotls-manager fd %d -> %s is the host's\n", fd, target);
		c->bad++;
	}
}

/* The managers of this store; waits up to ms until exactly one runs. Its pid, or 0. */
static pid_t wait_one_manager(const char *store, long ms)
{
	long t0 = harness_now_ms();
	pid_t pids[8];
	do {
		if (procfs_find_managers(store, pids, 8) == 1)
			return pids[0];
		harness_sleep_ms(20);
	} while (harness_now_ms() - t0 < ms);
	return 0;
}

/* Runs nginx like $(nginx ...): its stdout and stderr into a pipe read to end-of-file. The ms that took (or
 * -1 when it did not end within READ_CAP_MS); *ino_out names the pipe. */
static long run_captured(struct shim_env *e, char ino_out[64])
{
	char prefix[SERVER_PATH_MAX + 2];
	char *argv[] = {"nginx", "-p", prefix, "-c", e->srv.config_file, "-e", e->srv.error_log, NULL};
	char **envp = harness_make_env(e->envp);
	int p[2];
	struct stat st;
	long t0, ms = -1;

	snprintf(prefix, sizeof(prefix), "%s/", e->dir);
	if (envp == NULL || pipe2(p, O_CLOEXEC) != 0) {
		free(envp);
		return -1;
	}
	fstat(p[0], &st);
	snprintf(ino_out, 64, "pipe:[%lu]", (unsigned long)st.st_ino);
	t0 = harness_now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		execvpe("nginx", argv, envp);
		_exit(127);
	}
	close(p[1]);
	free(envp);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	for (;;) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		char buf[512];
		long left = READ_CAP_MS - (harness_now_ms() - t0);
		if (left <= 0)
			break;
		if (poll(&pf, 1, (int)left) <= 0)
			continue;
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n > 0) {
			fprintf(stderr, "  nginx said: %.*s", (int)n, buf);
			continue;
		}
		ms = harness_now_ms() - t0;
		break;
	}
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return ms;
}

static void daemonised_nginx_is_not_held(void)
{
	struct shim_env env;
	char capture[64];
	pid_t old[8];

	/* Orphans (the manager, once its intermediate exits) come to us, so that we can reap the ones we kill. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int started = shim_env_start(&env, SERVER_NGINX) == 0;
	CHECK(started);
	if (!started) {
		shim_env_dump(&env);
		shim_env_stop(&env);
		return;
	}
	/* The first start obtains the certificate; the one under test then only serves it. */
	CHECK(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	server_stop(&env.srv);
	long t0 = harness_now_ms();
	while (procfs_find_managers(env.store, old, 8) > 0 && harness_now_ms() - t0 < 5000)
		harness_sleep_ms(20);
	CHECK_INT(procfs_find_managers(env.store, old, 8), ==, 0);

	long ms = run_captured(&env, capture);
	fprintf(stderr, "  $(nginx ...) returned after %ld ms\n", ms);
	CHECK(ms >= 0);
	CHECK_INT(ms, <, RETURN_LIMIT_MS);
	/* Take over the stop: the master from its pid file, its group. */
	for (long t = harness_now_ms(); harness_now_ms() - t < 5000; harness_sleep_ms(20)) {
		char *text = harness_read_file(env.srv.pid_file, NULL);
		env.srv.pid = text ? (pid_t)atoi(text) : 0;
		free(text);
		if (env.srv.pid > 0 && getpgid(env.srv.pid) == env.srv.pid)
			break;
	}
	env.srv.pgid = env.srv.pid > 0 ? getpgid(env.srv.pid) : 0;
	REQUIRE(env.srv.pid > 0 && env.srv.pgid == env.srv.pid);
	CHECK(shim_wait_verified(&env, SHIM_NAME, SHIM_RESTART_TIMEOUT_MS) >= 0);

	pid_t mgr = wait_one_manager(env.store, 5000);
	CHECK(mgr > 0);
	if (mgr > 0) {
		struct procfs_stat ms_, ns;
		struct fdset host;
		pid_t members[16];
		memset(&host, 0, sizeof(host));
		int nm = procfs_group_members(env.srv.pgid, members, 16);
		CHECK_INT(nm, >=, 3); /* master and two workers */
		for (int i = 0; i < nm && i < 16; i++)
			procfs_each_fd(members[i], collect, &host);
		CHECK_INT(host.n, >, 0);
		CHECK_OK(procfs_stat(mgr, &ms_));
		CHECK_OK(procfs_stat(env.srv.pid, &ns));
		int parent_is_host = 0;
		for (int i = 0; i < nm && i < 16; i++)
			parent_is_host |= ms_.ppid == members[i];
		fprintf(stderr, "  autotls-manager %d: parent %d, session %d; nginx master %d, session %d\n", (int)mgr,
			(int)ms_.ppid, (int)ms_.sid, (int)env.srv.pid, (int)ns.sid);
		CHECK(!parent_is_host);
		/* A session of its own (made for the intermediate, which it outlives): neither nginx's nor ours. */
		CHECK(ms_.sid != ns.sid);
		CHECK(ms_.sid != getsid(0));
		struct mgr_check c = {.host = &host, .log = env.log};
		snprintf(c.capture, sizeof(c.capture), "%s", capture);
		CHECK_INT(procfs_each_fd(mgr, check_manager_fd, &c), >=, 5);
		CHECK_INT(c.bad, ==, 0);
		/* nginx's own descriptors were there to be found. */
		CHECK(fdset_has(&host, env.srv.error_log));
	}
	/* Nothing left running once nginx stops. */
	server_stop(&env.srv);
	t0 = harness_now_ms();
	while (mgr > 0 && procfs_find_managers(env.store, old, 8) > 0 && harness_now_ms() - t0 < 5000)
		harness_sleep_ms(20);
	CHECK_INT(procfs_find_managers(env.store, old, 8), ==, 0);
	if (mgr > 0)
		waitpid(mgr, NULL, WNOHANG);
	shim_check_log(&env);
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

int main(void)
{
	RUN(daemonised_nginx_is_not_held);
	return TEST_EXIT();
}
