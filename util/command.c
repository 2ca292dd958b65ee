/* See command.h. */
#include "util/command.h"
#include "util/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void drain(int fd, struct at_command_result *r)
{
	char buf[1024];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t take = (size_t)n;
		if (take > AT_COMMAND_OUTPUT_MAX - r->outlen)
			take = AT_COMMAND_OUTPUT_MAX - r->outlen; /* past the cap: read and dropped */
		memcpy(r->out + r->outlen, buf, take);
		r->outlen += take;
	}
}

int at_command_run(const struct at_command *cmd, struct at_command_result *r)
{
	int pfd[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	pid_t pid = -1;
	int err;

	memset(r, 0, sizeof(*r));
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
		r->spawn_errno = errno;
		return AT_E_IO;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (cmd->capture_stdout)
		posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	/* The host's descriptors (nginx's listening sockets are not close-on-exec) stay with the host. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&at, &none); /* the manager thread blocks every signal */
	posix_spawnattr_setsigdefault(&at, &all); /* a host that ignores SIGPIPE or SIGCHLD keeps that to itself */
	posix_spawnattr_setpgroup(&at, 0);        /* its own group: a time-out kills what it started too */
	err = posix_spawn(&pid, cmd->path, &fa, &at, cmd->argv, cmd->envp ? cmd->envp : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (err != 0) {
		close(pfd[0]);
		r->spawn_errno = err;
		return AT_E_IO;
	}

	long deadline = at_clock_ms() + cmd->timeout_ms, ticked = at_clock_ms();
	int open_fd = 1;
	for (;;) {
		int st;
		if (cmd->tick != NULL && r->tick_rc == 0 && at_clock_ms() - ticked >= 1000) {
			ticked = at_clock_ms();
			r->tick_rc = cmd->tick(cmd->tick_ctx);
		}
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			drain(pfd[0], r);
			r->exited = WIFEXITED(st);
			r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
			r->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
			/* What it left running in its group would hold nothing of ours; it is the user's. */
			break;
		}
		if (w < 0 && errno != EINTR) {
			drain(pfd[0], r); /* ECHILD: the host reaped it; the status is unknown */
			break;
		}
		if (at_clock_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			drain(pfd[0], r);
			r->timed_out = 1;
			break;
		}
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		if (open_fd && poll(&p, 1, 50) > 0) {
			char probe;
			/* Readable: data, or the end (the command closed its output but may still run). */
			drain(pfd[0], r);
			if ((p.revents & (POLLHUP | POLLERR)) && read(pfd[0], &probe, 1) == 0)
				open_fd = 0;
		} else if (!open_fd) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	r->out[r->outlen] = '\0';
	close(pfd[0]);
	return 0;
}

int at_command_line(char *out, size_t cap, const struct at_command_result *r, size_t i)
{
	size_t pos = 0, line = 0;
	if (cap == 0)
		return AT_E_RANGE;
	while (pos < r->outlen) {
		size_t end = pos;
		while (end < r->outlen && r->out[end] != '\n')
			end++;
		size_t len = end - pos;
		if (len > 0 && r->out[end - 1] == '\r')
			len--;
		if (len > 0 && line++ == i) {
			size_t o = 0;
			for (size_t k = 0; k < len && o + 1 < cap; k++) {
				unsigned char c = (unsigned char)r->out[pos + k];
				out[o++] = (char)(c < 0x20 || c == 0x7F ? '?' : c);
			}
			out[o] = '\0';
			return 0;
		}
		pos = end + 1;
	}
	out[0] = '\0';
	return AT_E_NOTFOUND;
}
