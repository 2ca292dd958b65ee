/*
 * util/command.c, the runner behind AUTOTLS_DNS_HOOK and AUTOTLS_HOOK: the command gets exactly 0 (/dev/null), 1
 * and 2 whatever this process holds open, its own process group, the given environment; its output is kept up
 * to the cap and the rest drained (a chatty command never blocks on a full pipe); past the time limit it is
 * killed with everything in its group; a command that cannot start is one error with its errno; a child of
 * ours that is not the command is never reaped by it. at_command_line gives printable lines, blank ones skipped.
 */
#include "util/command.h"
#include "util/clock.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_sh(const char *script, long timeout_ms, int capture_stdout, char *const *envp,
		  struct at_command_result *r)
{
	char *argv[] = { "/bin/sh", "-c", (char *)script, NULL };
	struct at_command cmd = { .path = "/bin/sh", .argv = argv, .envp = envp, .timeout_ms = timeout_ms,
				  .capture_stdout = capture_stdout };
	return at_command_run(&cmd, r);
}

static void exit_status_and_output(void)
{
	static struct at_command_result r;
	CHECK_OK(run_sh("echo out; echo err >&2; exit 3", 5000, 1, NULL, &r));
	CHECK_INT(r.exited, ==, 1);
	CHECK_INT(r.status, ==, 3);
	CHECK_INT(r.timed_out, ==, 0);
	CHECK(strstr(r.out, "out\n") != NULL && strstr(r.out, "err\n") != NULL);
	/* stdout on /dev/null unless captured */
	CHECK_OK(run_sh("echo out; echo err >&2", 5000, 0, NULL, &r));
	CHECK_STR(r.out, "err\n");
	/* the environment given, not ours */
	char *envp[] = { "AUTOTLS_EVENT=renewed", "PATH=/usr/bin:/bin", NULL };
	CHECK_OK(run_sh("echo \"[$AUTOTLS_EVENT][${HOME:-none}]\"", 5000, 1, envp, &r));
	CHECK_STR(r.out, "[renewed][none]\n");
}

static void only_std_descriptors(void)
{
	static struct at_command_result r;
	int fd = open("/dev/null", O_RDONLY); /* not close-on-exec, like a host's listening socket */
	REQUIRE(fd > 2);
	CHECK_OK(run_sh("ls /proc/self/fd | tr '\\n' ' '; echo; readlink /proc/self/fd/0; ps -o pgid= -p $$; echo $$", 5000,
			1, NULL, &r));
	close(fd);
	char fds[256], null[64];
	long pgid = 0, pid = -1;
	CHECK(sscanf(r.out, "%255[^\n]\n%63s %ld %ld", fds, null, &pgid, &pid) == 4);
	/* ls's own listing descriptor is the only one above 2 */
	CHECK(strncmp(fds, "0 1 2 3 ", 8) == 0 && strlen(fds) == 8);
	CHECK_STR(null, "/dev/null");
	CHECK_INT(pgid, ==, pid); /* a group of its own */
	CHECK(pgid != (long)getpgrp());
}

static void killed_with_its_group(void)
{
	static struct at_command_result r;
	long t0 = at_clock_ms();
	CHECK_OK(run_sh("sleep 30 & echo $!; echo started >&2; sleep 30", 500, 1, NULL, &r));
	long took = at_clock_ms() - t0;
	CHECK_INT(r.timed_out, ==, 1);
	CHECK(took >= 500 && took < 3000);
	pid_t bg = (pid_t)atol(r.out);
	REQUIRE(bg > 0);
	/* the background sleep went with the group (an orphan zombie at most, until init reaps it) */
	int alive = 0;
	for (int i = 0; i < 50; i++) {
		char path[64], st[256] = "";
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)bg);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			break;
		size_t n = fread(st, 1, sizeof(st) - 1, f);
		fclose(f);
		st[n] = '\0';
		const char *p = strrchr(st, ')');
		alive = !(p && (p[2] == 'Z' || p[2] == 'X'));
		if (!alive)
			break;
		usleep(20000);
	}
	CHECK_INT(alive, ==, 0);
}

static void output_capped_and_drained(void)
{
	static struct at_command_result r;
	/* 1 MiB of output: kept up to the cap, the rest read and dropped, and the command ends normally */
	CHECK_OK(run_sh("head -c 1048576 /dev/zero | tr '\\0' x; echo; exit 0", 10000, 1, NULL, &r));
	CHECK_INT(r.timed_out, ==, 0);
	CHECK_INT(r.exited, ==, 1);
	CHECK_INT(r.outlen, ==, AT_COMMAND_OUTPUT_MAX);
	CHECK_INT(r.out[AT_COMMAND_OUTPUT_MAX], ==, '\0');
}

static void cannot_start(void)
{
	static struct at_command_result r;
	char *argv[] = { "/nonexistent/hook", NULL };
	struct at_command cmd = { .path = "/nonexistent/hook", .argv = argv, .timeout_ms = 1000 };
	CHECK_INT(at_command_run(&cmd, &r), ==, AT_E_IO);
	CHECK_INT(r.spawn_errno, ==, ENOENT);
}

static void other_children_left_alone(void)
{
	static struct at_command_result r;
	pid_t mine = fork();
	REQUIRE(mine >= 0);
	if (mine == 0) {
		usleep(100000);
		_exit(7);
	}
	CHECK_OK(run_sh("sleep 0.3", 5000, 1, NULL, &r));
	int st = 0;
	/* still ours to reap, with its status */
	CHECK_INT(waitpid(mine, &st, 0), ==, mine);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
}

static void lines(void)
{
	static struct at_command_result r;
	char line[16];
	memset(&r, 0, sizeof(r));
	static const char text[] = "\n\nfirst\r\nsec\x01nd\x7f\n\n a very long third line\nno newline";
	memcpy(r.out, text, sizeof(text) - 1);
	r.outlen = sizeof(text) - 1;
	CHECK_OK(at_command_line(line, sizeof(line), &r, 0));
	CHECK_STR(line, "first");
	CHECK_OK(at_command_line(line, sizeof(line), &r, 1));
	CHECK_STR(line, "sec?nd?");
	CHECK_OK(at_command_line(line, sizeof(line), &r, 2));
	CHECK_STR(line, " a very long th"); /* cut at the buffer */
	CHECK_OK(at_command_line(line, sizeof(line), &r, 3));
	CHECK_STR(line, "no newline");
	CHECK_INT(at_command_line(line, sizeof(line), &r, 4), ==, AT_E_NOTFOUND);
	CHECK_STR(line, "");
	r.outlen = 0;
	CHECK_INT(at_command_line(line, sizeof(line), &r, 0), ==, AT_E_NOTFOUND);
}

int main(void)
{
	RUN(exit_status_and_output);
	RUN(only_std_descriptors);
	RUN(killed_with_its_group);
	RUN(output_capped_and_drained);
	RUN(cannot_start);
	RUN(other_children_left_alone);
	RUN(lines);
	return TEST_EXIT();
}
