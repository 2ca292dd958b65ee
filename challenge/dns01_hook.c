/*
 * DNS-01 through a hook command (see dns01_hook.h). present() runs `HOOK add <name> <value>`, then waits until
 * the TXT record holds the value (dns01_wait.c: AUTOTLS_DNS_RESOLVER when set, else every authoritative server of
 * the zone; at most the configured wait), so the CA is only told to validate once the record can be seen;
 * cleanup() runs `HOOK del <name> <value>`. <name> is "_acme-challenge.<domain>" without a final dot and <value>
 * the base64url digest (RFC 8555 section 8.4); a wildcard and its base name share a name with two values, so
 * `del` names the value it removes.
 *
 * The hook runs through util/command.h (no shell, the process's environment, stdin and stdout on /dev/null,
 * the first 4 KiB of stderr kept, no descriptor of the host's, a process group of its own, reaped by its pid)
 * and is killed with its group after 60 s. If the host reaps children itself (a SIGCHLD handler calling
 * waitpid(-1)), the hook's status is lost: add is then judged by the DNS check alone.
 *
 * A solver thread only (the shim's manager thread): it blocks for seconds, between the wait hooks
 * (wait_hooks.h) while the hook runs and while it waits for the record.
 */
#include "challenge/dns01_hook.h"
#include "challenge/dns01.h"
#include "challenge/wait_hooks.h"
#include "acme/solver.h"
#include "util/command.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

#define HOOK_TIMEOUT_MS 60000L

/* The command's tick: the issue lock's lease must not run out while a slow hook runs (issue 15). Called between
 * the wait hooks: the store is written holding the caller's lock, so it is taken around the refresh. */
static int keep_lock(void *ctx)
{
	at_challenge_wait_end();
	int rc = at_challenge_keepalive(ctx);
	at_challenge_wait_begin();
	return rc;
}

/* Runs the hook at path between the wait hooks; logs a failure as one line. Returns 0, AT_E_CHALLENGE (ran and
 * failed), AT_E_TIMEOUT or AT_E_IO. */
static int hook(const char *path, const char *verb, const struct at_challenge *ch)
{
	struct at_command_result r;
	char line[256];
	char *argv[] = { (char *)path, (char *)verb, (char *)ch->dns_txt_name, (char *)ch->dns_txt_value, NULL };
	struct at_command cmd = { .path = path, .argv = argv, .timeout_ms = HOOK_TIMEOUT_MS, .tick = keep_lock,
				  .tick_ctx = (void *)ch };

	at_challenge_wait_begin();
	int rc = at_command_run(&cmd, &r);
	at_challenge_wait_end();
	if (rc != 0) {
		at_log_error("dns-01: cannot run AUTOTLS_DNS_HOOK %s: %s", path, strerror(r.spawn_errno));
		return rc;
	}
	if (r.tick_rc != 0) {
		at_log_error("dns-01: the issue lock for %s was lost while AUTOTLS_DNS_HOOK ran (%s)", ch->identifier,
			     at_strerror(r.tick_rc));
		return r.tick_rc;
	}
	if (at_command_line(line, sizeof(line), &r, 0) != 0)
		snprintf(line, sizeof(line), "(nothing on stderr)");
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
