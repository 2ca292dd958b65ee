/*
 * The user's event hook (AUTOTLS_HOOK; events.h). For every event the manager runs the hook, without a shell, as
 * `HOOK <event>` with the process's environment (less LD_PRELOAD) plus
 *   AUTOTLS_EVENT      obtained | renewed | failed | expiring | revoked
 *   AUTOTLS_NAMES      the certificate's names, comma-separated
 *   AUTOTLS_NOT_AFTER  its end, RFC 3339 in UTC (e.g. 2027-03-01T12:00:00Z); unset when no certificate is known
 *   AUTOTLS_CERT_FILE  <AUTOTLS_STORAGE>/public/<name>.pem: the chain, leaf first, never a key; unset likewise
 *   AUTOTLS_ERROR      failed: what went wrong, one line (the CA's problem type and detail when it gave one);
 *                      revoked: when and why, as the OCSP response says
 * through util/command.h: stdin /dev/null, no descriptor of the host's, its own process group, killed with the
 * group at AUTOTLS_HOOK_TIMEOUT (30 s), reaped by its pid; the first lines of its output are logged. Its exit
 * status is logged and changes nothing: issuance never waits on the hook's success.
 *
 * The certificate file: the store keeps each key and chain in one 0600 value (store/certs.h), which the hook
 * must not be handed, and has no certificate-only file. So the manager writes the chain alone to
 * <storage>/public/<name>.pem (<name> as the store spells it: "_." for a wildcard's "*."), 0644, atomically
 * (temp file, fsync, rename, fsync of the folder: a reader never sees half a file), whenever a certificate is
 * in service for the name. The folder keeps the store's rule: 0700, or 0750 and AUTOTLS_STORAGE_GROUP's group
 * (whose members may then read it). The hook, run as the manager's user, can always read it and copies it to
 * where other software looks; nobody else is given a way into the store.
 *
 * `revoked` fires when the OCSP response fetched for the certificate in service says so (staple.c, lead.c); the
 * leader then orders a new certificate at once.
 *
 * Who calls it: the leader's loop (lead.c) and the on-demand thread (ondemand.c), manager threads (the tree's
 * manager process, or an in-process leader), each holding the quiesce lock. The table of certificates in
 * service (certs) is touched only inside that lock, so it needs no lock of its own, and it is never touched
 * while the lock is released. The hook runs with the quiesce lock released (mgr_quiesce_leave, as for every
 * other wait of the manager), so neither a host's fork() nor its exit() nor the other manager thread waits for
 * a hook; posix_spawn runs no fork handlers. Never on a server thread; never a waitpid(-1).
 */
#include "shim/manager/events.h"
#include "store/fileio.h"
#include "shim/manager/manager.h"
#include "acme/problem.h"
#include "store/certs.h"
#include "store/name.h"
#include "util/clock.h"
#include "util/command.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define EXPIRING_S (7L * 86400)   /* Let's Encrypt's old reminder came about then */
#define WARN_EVERY_S 86400L       /* once a day per certificate (divided by the tests' scale) */
#define OUTPUT_LINES 3            /* of the hook's output, logged */
#define ERROR_MAX 1024

struct ev_cert {
	char name[AT_NAME_MAX + 1]; /* the store name (the first of the names) */
	char *names;                /* owned, comma-separated */
	time_t not_before, not_after;
	time_t warned_at;           /* the last `expiring` for this certificate; 0: none */
	int has_file;               /* public/<name>.pem holds this certificate */
};

static struct ev_cert *certs; /* owned, grows; inside the quiesce lock only (see above) */
static size_t ncerts;

static const char *const event_names[] = { "obtained", "renewed", "failed", "expiring", "revoked" };

static struct ev_cert *find(const char *name, int create)
{
	for (size_t i = 0; i < ncerts; i++)
		if (strcmp(certs[i].name, name) == 0)
			return &certs[i];
	if (!create || strlen(name) > AT_NAME_MAX)
		return NULL;
	struct ev_cert *nv = realloc(certs, (ncerts + 1) * sizeof(*nv));
	if (nv == NULL)
		return NULL;
	certs = nv;
	struct ev_cert *c = &certs[ncerts++];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

/* names joined by commas, new (NULL when memory runs out). */
static char *join(const char *const *names, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	char *s = malloc(len), *p = s;
	if (s == NULL)
		return NULL;
	*p = '\0';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i ? "," : "", names[i]);
	return s;
}

/* <storage>/public/<component of name>.pem into out. 0 or AT_E_RANGE / AT_E_BADNAME. */
static int public_path(char *out, size_t cap, const char *name, int dir_only)
{
	char comp[AT_NAME_MAX + 1];
	int rc = at_name_to_component(comp, name);
	if (rc != 0)
		return rc;
	int n = dir_only ? snprintf(out, cap, "%s/public", mgr_host->cfg->state_dir)
			 : snprintf(out, cap, "%s/public/%s.pem", mgr_host->cfg->state_dir, comp);
	return n > 0 && (size_t)n < cap ? 0 : AT_E_RANGE;
}

/* Writes chain (certificates only) to public/<name>.pem, 0644, atomically; *existed: a file was there before. */
static int write_public(const char *name, const char *chain, size_t len, int *existed)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int dfd = -1, rc;

	*existed = 0;
	if (memmem(chain, len, "PRIVATE KEY", 11) != NULL)
		return AT_E_STATE; /* never: the record's chain holds certificates only */
	if ((rc = public_path(dir, sizeof(dir), name, 1)) != 0 || (rc = public_path(path, sizeof(path), name, 0)) != 0)
		return rc;
	int made = mkdir(dir, 0700) == 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return AT_E_IO;
	if (made) {
		/* Like the store's certificate folders: 0700, or 0750 and the group AUTOTLS_STORAGE_GROUP names. */
		long gid = mgr_host->cfg->storage_gid;
		if ((gid >= 0 && fchown(dfd, (uid_t)-1, (gid_t)gid) != 0) || fchmod(dfd, gid >= 0 ? 0750 : 0700) != 0)
			at_log_warn("AUTOTLS_HOOK: cannot set the mode of %s: %s", dir, strerror(errno));
	}
	const char *base = strrchr(path, '/') + 1;
	*existed = faccessat(dfd, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	rc = at_fio_write_public(dfd, base, chain, len);
	close(dfd);
	return rc;
}

static void rfc3339(char *out, size_t cap, time_t t)
{
	struct tm tm;
	if (t == 0 || gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		out[0] = '\0';
}

/* "NAME=value" (new), the value's controls made '?'. */
static char *env_entry(const char *name, const char *value)
{
	char *s = NULL;
	if (asprintf(&s, "%s=%s", name, value) < 0)
		return NULL;
	for (char *p = s + strlen(name) + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7F)
			*p = '?';
	return s;
}

/* What the hook does not inherit: our own variables (set afresh, or unset when unknown) and LD_PRELOAD, which the
 * manager process never has either (shim/preload/spawn.c): the hook is no server of ours. */
static int dropped(const char *entry)
{
	static const char *const vars[] = { "AUTOTLS_EVENT=", "AUTOTLS_NAMES=", "AUTOTLS_NOT_AFTER=",
					    "AUTOTLS_CERT_FILE=", "AUTOTLS_ERROR=", "LD_PRELOAD=" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		if (strncmp(entry, vars[i], strlen(vars[i])) == 0)
			return 1;
	return 0;
}

static void log_result(const char *event, const char *first, const struct at_command_result *r, long ms)
{
	const char *hook = mgr_host->cfg->hook;
	char line[240];
	for (size_t i = 0; i < OUTPUT_LINES && at_command_line(line, sizeof(line), r, i) == 0; i++)
		at_log_info("AUTOTLS_HOOK %s for %s said: %s", event, first, line);
	if (r->timed_out)
		at_log_error("AUTOTLS_HOOK %s (%s for %s) did not finish within %ld s and was killed with its process "
			     "group; certificates are managed as before", hook, event, first, mgr_host->cfg->hook_timeout_s);
	else if (r->signal)
		at_log_warn("AUTOTLS_HOOK %s (%s for %s) was killed by signal %d", hook, event, first, r->signal);
	else if (r->exited && r->status != 0)
		at_log_warn("AUTOTLS_HOOK %s (%s for %s) failed with exit status %d", hook, event, first, r->status);
	else if (!r->exited)
		at_log_warn("AUTOTLS_HOOK %s (%s for %s): its exit status was taken by the host process", hook, event,
			    first);
	else
		at_log_info("AUTOTLS_HOOK %s for %s ran (exit 0, %ld ms)", event, first, ms);
}

void mgr_event_emit(enum mgr_event ev, const char *names, time_t not_after, const char *cert_file,
		    const char *error)
{
	const struct shim_config *cfg = mgr_host->cfg;
	if (cfg->hook == NULL || (unsigned)ev >= sizeof(event_names) / sizeof(event_names[0]))
		return;
	const char *event = event_names[ev];
	char first[AT_NAME_MAX + 1], na[40];
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(names, ","), names);
	rfc3339(na, sizeof(na), not_after);

	size_t n = 0, k = 0;
	while (environ != NULL && environ[n] != NULL)
		n++;
	char **envp = calloc(n + 6, sizeof(*envp));
	char *mine[5] = { NULL };
	struct at_command_result *r = malloc(sizeof(*r));
	if (envp == NULL || r == NULL)
		goto out;
	mine[0] = env_entry("AUTOTLS_EVENT", event);
	mine[1] = env_entry("AUTOTLS_NAMES", names);
	mine[2] = na[0] ? env_entry("AUTOTLS_NOT_AFTER", na) : NULL;
	mine[3] = cert_file ? env_entry("AUTOTLS_CERT_FILE", cert_file) : NULL;
	mine[4] = error ? env_entry("AUTOTLS_ERROR", error) : NULL;
	if (mine[0] == NULL || mine[1] == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!dropped(environ[i]))
			envp[k++] = environ[i];
	for (size_t i = 0; i < 5; i++)
		if (mine[i] != NULL)
			envp[k++] = mine[i];
	envp[k] = NULL;

	char *argv[] = { cfg->hook, (char *)event, NULL };
	struct at_command cmd = { .path = cfg->hook, .argv = argv, .envp = envp,
				  .timeout_ms = cfg->hook_timeout_s * 1000L, .capture_stdout = 1 };
	long t0 = at_clock_ms();
	/* A wait like any other of the manager's: the host may fork or exit meanwhile. */
	mgr_quiesce_leave();
	int rc = at_command_run(&cmd, r);
	mgr_quiesce_enter();
	if (rc != 0)
		at_log_error("cannot run AUTOTLS_HOOK %s (%s for %s): %s", cfg->hook, event, first,
			     strerror(r->spawn_errno));
	else
		log_result(event, first, r, at_clock_ms() - t0);
out:
	if (envp == NULL || r == NULL || mine[0] == NULL || mine[1] == NULL)
		at_log_error("AUTOTLS_HOOK (%s for %s): out of memory; not run", event, first);
	for (size_t i = 0; i < 5; i++)
		free(mine[i]);
	free(envp);
	free(r);
}

void mgr_event_cert(const char *const *names, size_t n, const struct at_cert_record *rec, int ordered)
{
	if (mgr_host->cfg->hook == NULL || n == 0 || rec == NULL || rec->chain_pem == NULL)
		return;
	struct ev_cert *c = find(names[0], 1);
	if (c == NULL)
		return;
	int known = c->not_after != 0, existed = 0;
	int changed = !known || c->not_after != rec->info.not_after || c->not_before != rec->info.not_before;
	if (changed || ordered || !c->has_file) {
		int rc = write_public(names[0], rec->chain_pem, rec->chain_len, &existed);
		c->has_file = rc == 0;
		if (rc != 0)
			at_log_warn("AUTOTLS_HOOK: cannot write the certificate file for %s under %s/public (%s); the hook "
				    "gets no AUTOTLS_CERT_FILE", names[0], mgr_host->cfg->storage, at_strerror(rc));
	}
	char *joined = rec->nnames > 0 ? join((const char *const *)rec->names, rec->nnames) : join(names, n);
	if (joined != NULL) {
		free(c->names);
		c->names = joined;
	}
	c->not_before = rec->info.not_before;
	c->not_after = rec->info.not_after;
	if (changed)
		c->warned_at = 0;
	if (!ordered || c->names == NULL)
		return;
	/* Copies: the table may grow (move) while the hook runs and the other manager thread works. */
	char path[PATH_MAX];
	int has_path = c->has_file && public_path(path, sizeof(path), names[0], 0) == 0;
	char *nm = strdup(c->names);
	if (nm == NULL)
		return;
	mgr_event_emit(known || existed ? MGR_EVENT_RENEWED : MGR_EVENT_OBTAINED, nm, rec->info.not_after,
		       has_path ? path : NULL, NULL);
	free(nm);
}

void mgr_event_failed(const char *const *names, size_t n, int rc, const struct at_problem *p)
{
	if (mgr_host->cfg->hook == NULL || n == 0 || rc == AT_E_BACKOFF)
		return;
	char error[ERROR_MAX], path[PATH_MAX];
	int len = snprintf(error, sizeof(error), "%s", at_strerror(rc));
	if (p != NULL && p->type != NULL && len > 0 && (size_t)len < sizeof(error))
		len += snprintf(error + len, sizeof(error) - (size_t)len, " (%s)", at_problem_short_type(p));
	if (p != NULL && p->detail != NULL && len > 0 && (size_t)len < sizeof(error))
		snprintf(error + len, sizeof(error) - (size_t)len, ": %s", p->detail);
	const struct ev_cert *c = find(names[0], 0);
	time_t not_after = c ? c->not_after : 0;
	int has_path = c && c->has_file && public_path(path, sizeof(path), names[0], 0) == 0;
	char *nm = join(names, n);
	if (nm == NULL)
		return;
	mgr_event_emit(MGR_EVENT_FAILED, nm, not_after, has_path ? path : NULL, error);
	free(nm);
}

void mgr_event_tick(void)
{
	const struct shim_config *cfg = mgr_host->cfg;
	if (cfg->hook == NULL)
		return;
	long every = WARN_EVERY_S / (cfg->backoff_divisor > 1 ? cfg->backoff_divisor : 1);
	/* Index by index: the hook runs outside the quiesce lock, and the table may grow meanwhile. */
	for (size_t i = 0; i < ncerts; i++) {
		struct ev_cert *c = &certs[i];
		time_t now = time(NULL), window = EXPIRING_S;
		if (c->not_after == 0 || c->names == NULL)
			continue;
		if (c->not_after > c->not_before && (c->not_after - c->not_before) / 4 < window)
			window = (c->not_after - c->not_before) / 4;
		if (now < c->not_after - window || (c->warned_at != 0 && now - c->warned_at < every))
			continue;
		c->warned_at = now;
		char path[PATH_MAX], na[40];
		int has_path = c->has_file && public_path(path, sizeof(path), c->name, 0) == 0;
		char *nm = strdup(c->names);
		time_t not_after = c->not_after;
		if (nm == NULL)
			return;
		rfc3339(na, sizeof(na), not_after);
		at_log_warn("the certificate for %s %s at %s and has not been renewed; telling AUTOTLS_HOOK (expiring)",
			    c->name, now < not_after ? "expires" : "expired", na);
		mgr_event_emit(MGR_EVENT_EXPIRING, nm, not_after, has_path ? path : NULL, NULL);
		free(nm);
	}
}

void mgr_event_revoked(const char *const *names, size_t n, time_t not_after, const char *why)
{
	char path[PATH_MAX];
	if (mgr_host->cfg->hook == NULL || n == 0)
		return;
	struct ev_cert *c = find(names[0], 0);
	char *all = join(names, n);
	if (all == NULL)
		return;
	int have_file = c != NULL && c->has_file && public_path(path, sizeof(path), names[0], 0) == 0;
	mgr_event_emit(MGR_EVENT_REVOKED, all, not_after, have_file ? path : NULL, why);
	free(all);
}
