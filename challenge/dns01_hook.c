/*
 * DNS-01 through a hook command (see dns01_hook.h). present() runs `HOOK add <name> <value>`, then waits until
 * the TXT record holds the value (dns01_wait.c: AUTOTLS_DNS_RESOLVER when set, else every authoritative server of
 * the zone; at most the configured wait), so the CA is only told to validate once the record can be seen;
 * cleanup() runs `HOOK del <name> <value>`. <name> is "_acme-challenge.<domain>" without a final dot and <value>
 * the base64url digest (RFC 8555 section 8.4); a wildcard and its base name share a name with two values, so
 * `del` names the value it removes.
 *
 * The hook runs without a shell (posix_spawn of the path itself, the process's environment, stdin and stdout
 * on /dev/null, stderr into a pipe of which the first 4 KiB are kept, every other descriptor closed, default
 * signal dispositions and an empty mask, its own process group) and is killed with its group after 60 s.
 * posix_spawn rather than fork: glibc's does not run pthread_atfork handlers, and the shim's take the quiesce
 * lock its manager thread holds and start a manager thread in the child. If the host reaps children itself (a
 * SIGCHLD handler calling waitpid(-1)), the hook's status is lost: add is then judged by the DNS check alone.
 *
 * A solver thread only (the shim's manager thread): it blocks for seconds, between the wait hooks
 * (wait_hooks.h) while the hook runs and while it waits for the record.
 */
#include "challenge/dns01_hook.h"
#include "challenge/dns01.h"
#include "challenge/wait_hooks.h"
#include "util/clock.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOOK_TIMEOUT_MS 60000L
#define HOOK_STDERR_MAX 4096

extern char **environ;

struct hook_run {
	int exited;     /* 1: status is the exit status; 0 with signal: killed; both 0: unknown (reaped elsewhere) */
	int status;
	int signal;
	int timed_out;
	int lost;       /* the issue lock's keepalive failed while the hook ran (its error) */
	char err[HOOK_STDERR_MAX + 1];
	size_t errlen;
};

/* The first line of the hook's stderr, made printable, into out. */
static void first_line(char *out, size_t cap, const struct hook_run *r)
{
	size_t o = 0;
	for (size_t i = 0; i < r->errlen && o + 1 < cap; i++) {
		unsigned char c = (unsigned char)r->err[i];
		if (c == '\n' || (c == '\r' && o > 0))
			break;
		out[o++] = (char)(c < 0x20 || c == 0x7F ? '?' : c);
	}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, cap, "(nothing on stderr)");
}

static void drain(int fd, struct hook_run *r)
{
	char buf[1024];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		size_t take = (size_t)n;
		if (take > HOOK_STDERR_MAX - r->errlen)
			take = HOOK_STDERR_MAX - r->errlen; /* past the cap: read and dropped */
		memcpy(r->err + r->errlen, buf, take);
		r->errlen += take;
	}
}

/* Runs `hook verb name value`, waits for it (at most HOOK_TIMEOUT_MS) and fills *r. Returns 0 when it ran (see
 * r for how it ended) or AT_E_IO when it could not be started. Called between the wait hooks; once a second it
 * leaves them to keep ch's issue lock alive (a slow hook must not let the lease run out). */
static int run_hook(const char *hook, const char *verb, const struct at_challenge *ch, struct hook_run *r)
{
	const char *name = ch->dns_txt_name, *value = ch->dns_txt_value;
	int pfd[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	pid_t pid = -1;
	char *argv[] = { (char *)hook, (char *)verb, (char *)name, (char *)value, NULL };
	int rc = AT_E_IO, err;

	memset(r, 0, sizeof(*r));
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0)
		return AT_E_IO;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	/* The host's descriptors (nginx's listening sockets are not close-on-exec) stay with the host. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&at, &none); /* the manager thread blocks every signal */
	posix_spawnattr_setsigdefault(&at, &all); /* a host that ignores SIGPIPE or SIGCHLD keeps that to itself */
	posix_spawnattr_setpgroup(&at, 0);
	err = posix_spawn(&pid, hook, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (err != 0) {
		at_log_error("dns-01: cannot run AUTOTLS_DNS_HOOK %s: %s", hook, strerror(err));
		goto out;
	}

	long deadline = at_clock_ms() + HOOK_TIMEOUT_MS, kept = at_clock_ms();
	int open_fd = 1;
	for (;;) {
		int st;
		if (at_clock_ms() - kept >= 1000 && r->lost == 0) {
			kept = at_clock_ms();
			at_challenge_wait_end(); /* the store is written holding the caller's lock */
			r->lost = at_challenge_keepalive(ch);
			at_challenge_wait_begin();
		}
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			drain(pfd[0], r);
			r->exited = WIFEXITED(st);
			r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
			r->signal = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
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
			/* Readable: data, or the end (the hook closed stderr but may still run). */
			drain(pfd[0], r);
			if ((p.revents & (POLLHUP | POLLERR)) && read(pfd[0], &probe, 1) == 0)
				open_fd = 0;
		} else if (!open_fd) {
			struct timespec ts = { 0, 50 * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	r->err[r->errlen] = '\0';
	rc = 0;
out:
	close(pfd[0]);
	return rc;
}

/* Runs the hook at path between the wait hooks; logs a failure as one line. Returns 0, AT_E_CHALLENGE (ran and
 * failed), AT_E_TIMEOUT or AT_E_IO. */
static int hook(const char *path, const char *verb, const struct at_challenge *ch)
{
	struct hook_run r;
	char line[256];

	at_challenge_wait_begin();
	int rc = run_hook(path, verb, ch, &r);
	at_challenge_wait_end();
	if (rc != 0)
		return rc;
	if (r.lost != 0) {
		at_log_error("dns-01: the issue lock for %s was lost while AUTOTLS_DNS_HOOK ran (%s)", ch->identifier,
			     at_strerror(r.lost));
		return r.lost;
	}
	first_line(line, sizeof(line), &r);
	if (r.timed_out) {
		at_log_error("dns-01: AUTOTLS_DNS_HOOK %s %s %s did not finish within %ld s and was killed: %s", path,
			     verb, ch->dns_txt_name, HOOK_TIMEOUT_MS / 1000, line);
		return AT_E_TIMEOUT;
	}
	if (r.signal) {
		at_log_error("dns-01: AUTOTLS_DNS_HOOK %s %s %s was killed by signal %d: %s", path, verb,
			     ch->dns_txt_name, r.signal, line);
		return AT_E_CHALLENGE;
	}
	if (r.exited && r.status != 0) {
		at_log_error("dns-01: AUTOTLS_DNS_HOOK %s %s %s failed with exit status %d: %s", path, verb,
			     ch->dns_txt_name, r.status, line);
		return AT_E_CHALLENGE;
	}
	if (!r.exited)
		at_log_warn("dns-01: the exit status of AUTOTLS_DNS_HOOK %s %s %s was taken by the host process", path,
			    verb, ch->dns_txt_name);
	return 0;
}

/* The hook's add and delete (at_dns01_set_fn). */
static int hook_set(const void *ctx, int add, const struct at_challenge *ch)
{
	const struct at_dns01_hook_config *cfg = ctx;
	return hook(cfg->hook, add ? "add" : "del", ch);
}

static int hook_present(void *ctx, const struct at_challenge *ch)
{
	const struct at_dns01_hook_config *cfg = ctx;
	return at_dns01_present(hook_set, cfg, &cfg->wait, ch);
}

static void hook_cleanup(void *ctx, const struct at_challenge *ch)
{
	at_dns01_cleanup(hook_set, ctx, ch);
}

int at_dns01_hook_solver(struct at_solver *out, const struct at_dns01_hook_config *cfg)
{
	if (cfg == NULL || cfg->hook == NULL)
		return AT_E_STATE;
	*out = (struct at_solver){ .type = AT_CHALLENGE_DNS_01, .present = hook_present, .cleanup = hook_cleanup,
				   .ctx = (void *)cfg };
	return 0;
}
