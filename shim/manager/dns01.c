/*
 * DNS-01 through a hook command (see dns01.h). present() runs `HOOK add <name> <value>`, then asks a DNS server
 * for the TXT record until it holds the value (from 50 ms, doubling up to 2 s between tries, for at most
 * AUTOTLS_DNS_WAIT seconds), so the CA is only told to validate once the record can be seen; cleanup() runs
 * `HOOK del <name> <value>`. <name> is "_acme-challenge.<domain>" without a final dot and <value> the base64url
 * digest (RFC 8555 section 8.4); a wildcard and its base name share a name with two values, so `del` names the
 * value it removes.
 *
 * Which servers are asked (dns01_wait.c): AUTOTLS_DNS_RESOLVER when set, else every authoritative server of the
 * zone, found through the first nameserver of /etc/resolv.conf.
 *
 * The hook runs without a shell (posix_spawn of the path itself, the process's environment, stdin and stdout
 * on /dev/null, stderr into a pipe of which the first 4 KiB are kept, every other descriptor closed, default
 * signal dispositions and an empty mask, its own process group) and is killed with its group after 60 s.
 * posix_spawn rather than fork: glibc's does not run pthread_atfork handlers, and ours take the quiesce lock
 * this thread holds and start a manager thread in the child. If the host reaps children itself (a SIGCHLD
 * handler calling waitpid(-1)), the hook's status is lost: add is then judged by the DNS check alone.
 *
 * A second mode, RFC 2136 (when AUTOTLS_DNS_UPDATE and AUTOTLS_DNS_TSIG are set; it then wins over a hook):
 * present() adds the TXT value by a TSIG-signed UPDATE to the server in AUTOTLS_DNS_UPDATE (the zone from
 * AUTOTLS_DNS_ZONE, or found by SOA queries there), then polls that same server for the record as above;
 * cleanup() deletes that one value. A refused update is one line with the server's answer (BADSIG, BADKEY,
 * NOTAUTH, ...), never the secret.
 *
 * Manager thread only: it blocks for seconds, and releases the quiesce lock while it waits.
 */
#include "shim/manager/dns01.h"
#include "util/clock.h"
#include "shim/manager/dns01_wait.h"
#include "acme/solver.h"
#include "shim/manager/manager.h"
#include "dns/update.h"
#include "dns/zone.h"
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
#define QUERY_TIMEOUT_MS 2000L

extern char **environ;

struct hook_run {
	int exited;     /* 1: status is the exit status; 0 with signal: killed; both 0: unknown (reaped elsewhere) */
	int status;
	int signal;
	int timed_out;
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
 * r for how it ended) or AT_E_IO when it could not be started. Called with the quiesce lock released. */
static int run_hook(const char *hook, const char *verb, const char *name, const char *value, struct hook_run *r)
{
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

	long deadline = at_clock_ms() + HOOK_TIMEOUT_MS;
	int open_fd = 1;
	for (;;) {
		int st;
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

/* Runs the hook with the quiesce lock released; logs a failure as one line. Returns 0, AT_E_CHALLENGE (ran
 * and failed), AT_E_TIMEOUT or AT_E_IO. */
static int hook(const char *verb, const struct at_challenge *ch)
{
	const char *path = mgr_host->cfg->dns_hook;
	struct hook_run r;
	char line[256];

	mgr_quiesce_leave();
	int rc = run_hook(path, verb, ch->dns_txt_name, ch->dns_txt_value, &r);
	mgr_quiesce_enter();
	if (rc != 0)
		return rc;
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

/* ---- RFC 2136 mode ---- */

/* Adds (add = 1) or deletes the challenge's TXT value at AUTOTLS_DNS_UPDATE, the quiesce lock released. Returns 0
 * or AT_E_CHALLENGE (logged as one line with the server's answer). */
static int update(int add, const struct at_challenge *ch)
{
	const struct shim_config *cfg = mgr_host->cfg;
	const struct at_tsig_key key = { .alg = (enum at_tsig_alg)cfg->dns_tsig_alg, .name = cfg->dns_tsig_name,
					 .secret = cfg->dns_tsig_secret, .secret_len = cfg->dns_tsig_secret_len };
	struct at_dns_update_result res;
	char zone[AT_DNS_NAME_TEXT];
	const char *verb = add ? "add" : "delete";
	int rc = 0;

	memset(&res, 0, sizeof(res));
	mgr_quiesce_leave();
	if (cfg->dns_zone != NULL)
		snprintf(zone, sizeof(zone), "%s", cfg->dns_zone);
	else
		rc = at_dns_find_zone(cfg->dns_update, cfg->dns_update_port, ch->dns_txt_name, (int)QUERY_TIMEOUT_MS,
				      zone, sizeof(zone), NULL);
	if (rc != 0) {
		mgr_quiesce_enter();
		at_log_error("dns-01: no zone holding %s at AUTOTLS_DNS_UPDATE %s port %d (%s): set AUTOTLS_DNS_ZONE",
			     ch->dns_txt_name, cfg->dns_update, cfg->dns_update_port,
			     rc == AT_E_NOTFOUND ? "no SOA on the way up" : at_strerror(rc));
		return AT_E_CHALLENGE;
	}
	rc = at_dns_update_txt(cfg->dns_update, cfg->dns_update_port, &key, zone, ch->dns_txt_name, ch->dns_txt_value,
			       add, (int)QUERY_TIMEOUT_MS * 2, &res);
	mgr_quiesce_enter();
	if (rc == 0) {
		at_log_info("dns-01: %s TXT %s in zone %s at %s port %d: done", verb, ch->dns_txt_name, zone,
			    cfg->dns_update, cfg->dns_update_port);
		return 0;
	}
	if (rc == AT_E_NET && res.rcode != 0)
		at_log_error("dns-01: RFC 2136 %s of TXT %s in zone %s at %s port %d with TSIG key %s refused: %s",
			     verb, ch->dns_txt_name, zone, cfg->dns_update, cfg->dns_update_port, cfg->dns_tsig_name,
			     at_dns_update_strerror(&res));
	else if (rc == AT_E_CRYPTO)
		at_log_error("dns-01: RFC 2136 %s of TXT %s in zone %s at %s port %d: %s", verb, ch->dns_txt_name, zone,
			     cfg->dns_update, cfg->dns_update_port, at_dns_update_strerror(&res));
	else
		at_log_error("dns-01: RFC 2136 %s of TXT %s in zone %s at %s port %d failed: %s", verb, ch->dns_txt_name,
			     zone, cfg->dns_update, cfg->dns_update_port, at_strerror(rc));
	return AT_E_CHALLENGE;
}

static int rfc2136_present(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	if (ch->type != AT_CHALLENGE_DNS_01 || ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return AT_E_INVAL;
	int rc = update(1, ch);
	if (rc != 0)
		return rc;
	rc = mgr_dns01_wait(ch);
	if (rc != 0 && update(0, ch) != 0)
		at_log_warn("dns-01: the TXT record of %s may be left behind", ch->dns_txt_name);
	return rc;
}

static void rfc2136_cleanup(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	if (ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return;
	if (update(0, ch) != 0)
		at_log_warn("dns-01: the TXT record of %s may be left behind", ch->dns_txt_name);
}

/* ---- hook mode ---- */

static int dns01_present(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	if (ch->type != AT_CHALLENGE_DNS_01 || ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return AT_E_INVAL;
	int rc = hook("add", ch);
	if (rc != 0)
		return rc;
	rc = mgr_dns01_wait(ch);
	if (rc != 0) {
		/* The client calls cleanup() only after a successful present(): withdraw what add did. */
		if (hook("del", ch) != 0)
			at_log_warn("dns-01: the TXT record of %s may be left behind", ch->dns_txt_name);
	}
	return rc;
}

static void dns01_cleanup(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	if (ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return;
	if (hook("del", ch) != 0)
		at_log_warn("dns-01: the TXT record of %s may be left behind", ch->dns_txt_name);
}

int mgr_dns01_solver(struct at_solver *out)
{
	if (mgr_host == NULL || mgr_host->cfg == NULL)
		return AT_E_STATE;
	const struct shim_config *cfg = mgr_host->cfg;
	int rfc2136 = cfg->dns_update != NULL && cfg->dns_tsig_name != NULL && cfg->dns_tsig_secret != NULL;
	if (!rfc2136 && cfg->dns_hook == NULL)
		return AT_E_STATE;
	memset(out, 0, sizeof(*out));
	out->type = AT_CHALLENGE_DNS_01;
	out->present = rfc2136 ? rfc2136_present : dns01_present;
	out->cleanup = rfc2136 ? rfc2136_cleanup : dns01_cleanup;
	out->ctx = NULL;
	return 0;
}
