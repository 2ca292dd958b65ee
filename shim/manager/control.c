/*
 * The control channel (issue 13): how `autotls renew`, `revoke` and `status` reach the running manager.
 *
 * What it owns: a Unix stream socket, <storage>/run/control.sock (shim/control_path.h says why there), bound by
 * the leader of the store only (the manager process, or the in-process leader of a tree without one: one leader
 * per store, manager.lock, so one listener), mode 0600 in a 0700 folder; and the connections accepted on it.
 * Never a TCP port. Who may use it: the peer's credentials (SO_PEERCRED, the kernel's word) must be root, the
 * manager's own user, or the store's owner; anyone else who could reach the socket gets one line of refusal,
 * is logged, and nothing is done.
 *
 * Protocol: one JSON line each way per connection (cJSON, a line at most CTL_LINE_MAX bytes):
 *   {"cmd":"status"}                                   answered at once
 *   {"cmd":"renew","force":true,"names":["a.test"]}    answered when the round it asks for ends
 *   {"cmd":"revoke","name":"a.test","reason":1}        answered when the replacement is served (or failed)
 * Answers: {"ok":true,...} or {"ok":false,"error":"..."}.
 *
 * Who calls it: only the leader's thread (lead.c), in place of its one-second sleeps (mgr_control_wait), so a
 * server thread never waits for it and a request never runs beside a round of the leader's: a renewal asked
 * here is the leader's own next round, started early. Lock: the quiesce lock is released around every poll,
 * accept, read, write and close; only the parsing and the answers' making (no I/O) run inside it.
 * Fork: the descriptors are atomics, cleared before each close, so that mgr_control_forked (the host's fork
 * child handler) closes exactly the copies the child inherited, never a descriptor the host reused.
 */
#include "shim/manager/control.h"
#include "shim/manager/manager.h"
#include "shim/control_path.h"
#include "util/log.h"
#include "util/proc_stat.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define IDLE_MS 10000 /* a connection that sends no whole line in this time is closed */
#define MAX_SEEN 512

struct client {
	_Atomic int fd; /* -1: free */
	char buf[CTL_LINE_MAX];
	size_t len;
	int waiting;      /* asked for a renewal or a revocation: answered by mgr_control_done */
	int64_t since_ms; /* accepted at (monotonic) */
	char *answer;     /* made inside the lock, sent outside it */
};

static _Atomic int lfd = -1;
static pid_t owner_pid; /* the process that opened lfd: a forked child has copies only */
static char sock_path[4300];
static struct client clients[MAX_CLIENTS] = { [0 ... MAX_CLIENTS - 1] = { .fd = -1 } };

struct mgr_control_state mgr_control_state;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(_Atomic int *fd)
{
	int f = atomic_exchange(fd, -1);
	if (f >= 0)
		close(f);
}

void mgr_control_forked(void)
{
	close_fd(&lfd);
	for (int i = 0; i < MAX_CLIENTS; i++)
		close_fd(&clients[i].fd);
}

int mgr_control_open(void)
{
	const char *storage = mgr_host->cfg->state_dir; /* this host's own folder (config.h) */
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd = -1, fd = -1, rc;
	char dir[4200];

	if (atomic_load(&lfd) >= 0 && owner_pid == getpid())
		return 0;
	snprintf(dir, sizeof(dir), "%s/" CTL_DIR, storage);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		at_log_warn("no control channel: cannot make %s: %s", dir, strerror(errno));
		return AT_E_IO;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/" CTL_SOCK, dir);
	if ((rc = ctl_sockaddr(storage, &sa, &len, &dirfd)) != 0) {
		at_log_warn("no control channel at %s: %s", sock_path, at_strerror(rc));
		return rc;
	}
	/* An earlier leader's socket (it died, or lost the lead): ours replaces it. Only a leader binds here. */
	unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	rc = fd < 0 ? AT_E_IO : 0;
	/* The folder is 0700, so the moment before the chmod (the mode bind gives follows the host's umask) lets
	 * no one else in. */
	if (rc == 0 && (bind(fd, (struct sockaddr *)&sa, len) != 0 || chmod(sock_path, 0600) != 0 || listen(fd, 8) != 0))
		rc = AT_E_IO;
	if (dirfd >= 0)
		close(dirfd);
	if (rc != 0) {
		at_log_warn("no control channel at %s: %s", sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	owner_pid = getpid();
	atomic_store(&lfd, fd);
	at_log_info("control channel at %s (root and uid %d)", sock_path, (int)geteuid());
	return 0;
}

/* The line for one answer (a new string), from an object it consumes. */
static char *line_of(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (s == NULL)
		return NULL;
	size_t n = strlen(s);
	char *l = realloc(s, n + 2);
	if (l == NULL) {
		free(s);
		return NULL;
	}
	l[n] = '\n';
	l[n + 1] = '\0';
	return l;
}

static char *error_line(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	if (o && (!cJSON_AddFalseToObject(o, "ok") || !cJSON_AddStringToObject(o, "error", msg))) {
		cJSON_Delete(o);
		o = NULL;
	}
	return line_of(o);
}

/* Sends c's answer (outside the quiesce lock: the caller released it) and closes c. A slow reader loses it:
 * the socket is non-blocking and an answer is one short line. */
static void send_and_close(struct client *c)
{
	int fd = atomic_load(&c->fd);
	if (fd >= 0 && c->answer != NULL && send(fd, c->answer, strlen(c->answer), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		at_log_debug("control channel: an answer was not taken: %s", strerror(errno));
	free(c->answer);
	c->answer = NULL;
	c->len = 0;
	c->waiting = 0;
	close_fd(&c->fd);
}

static void flush_answers(void)
{
	int any = 0;
	for (int i = 0; i < MAX_CLIENTS; i++)
		any |= clients[i].answer != NULL;
	if (!any)
		return;
	mgr_quiesce_leave();
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].answer != NULL)
			send_and_close(&clients[i]);
	mgr_quiesce_enter();
}

/* Root, the manager's user or the store's owner (see the top of this file). */
static int peer_allowed(uid_t uid)
{
	struct stat st;
	if (uid == 0 || uid == geteuid())
		return 1;
	return stat(mgr_host->cfg->state_dir, &st) == 0 && st.st_uid == uid;
}

/* Accepts what is waiting (quiesce lock released). Refused peers get their line here. */
static void accept_new(int l)
{
	for (;;) {
		int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || !peer_allowed(cr.uid)) {
			char msg[300];
			snprintf(msg, sizeof(msg),
				 "{\"ok\":false,\"error\":\"refused: uid %d is neither root nor the server's user (uid "
				 "%d); nothing was done\"}\n",
				 (int)cr.uid, (int)geteuid());
			if (send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				at_log_debug("control channel: the refusal was not taken");
			close(fd);
			at_log_warn("control channel: refused pid %d uid %d (only root and uid %d may use it)", (int)cr.pid,
				    (int)cr.uid, (int)geteuid());
			continue;
		}
		int k = 0;
		while (k < MAX_CLIENTS && atomic_load(&clients[k].fd) >= 0)
			k++;
		if (k == MAX_CLIENTS) {
			static const char busy[] = "{\"ok\":false,\"error\":\"busy: too many connections; try again\"}\n";
			if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				at_log_debug("control channel: the busy answer was not taken");
			close(fd);
			continue;
		}
		clients[k].len = 0;
		clients[k].waiting = 0;
		clients[k].since_ms = mono_ms();
		atomic_store(&clients[k].fd, fd);
	}
}

/* Reads what c sent (quiesce lock released); 1 when a whole line is in, -1 when it went away or is too long. */
static int read_client(struct client *c)
{
	int fd = atomic_load(&c->fd);
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	if (n > 0)
		c->len += (size_t)n;
	c->buf[c->len] = '\0';
	if (memchr(c->buf, '\n', c->len) != NULL)
		return 1;
	return c->len + 1 >= sizeof(c->buf) ? -1 : 0;
}

static int managed(const char *name)
{
	const struct shim_config *cfg = mgr_host->cfg;
	for (size_t i = 0; i < cfg->ndomains; i++)
		if (strcasecmp(cfg->domains[i], name) == 0)
			return 1;
	return 0;
}

/* /proc/<pid>/stat for display: its ppid and comm ("?" when it cannot be read); ppid 0 then. */
static pid_t proc_info(pid_t pid, struct at_proc_stat *st)
{
	return at_proc_stat_read(pid, st) == 0 ? st->ppid : 0;
}

/*
 * status: the leader's view (what it serves, when it renews, the last error) and every process of the tree with
 * the generation it says its cache serves (seen.c; untrusted, displayed only): "serving_newest" when that is at
 * least the version of the region record the leader last wrote for the managed certificate.
 */
static char *status_line(void)
{
	const struct shim_config *cfg = mgr_host->cfg;
	struct mgr_control_state *st = &mgr_control_state;
	static struct mgr_seen seen[MAX_SEEN];
	size_t n = 0;
	uint64_t version = mgr_published_version();
	int64_t now_ms = (int64_t)time(NULL) * 1000;
	mgr_seen_list(seen, MAX_SEEN, &n);

	cJSON *o = cJSON_CreateObject();
	cJSON *names = o ? cJSON_AddArrayToObject(o, "names") : NULL;
	cJSON *procs = o ? cJSON_AddArrayToObject(o, "processes") : NULL;
	int ok = procs != NULL && cJSON_AddTrueToObject(o, "ok") &&
		 cJSON_AddNumberToObject(o, "pid", (double)getpid()) &&
		 cJSON_AddNumberToObject(o, "uid", (double)geteuid()) &&
		 cJSON_AddStringToObject(o, "leader", mgr_is_helper ? "manager process" : "in-process") &&
		 cJSON_AddStringToObject(o, "serial", st->serial) &&
		 cJSON_AddNumberToObject(o, "not_after", (double)st->not_after) &&
		 cJSON_AddNumberToObject(o, "renew_at", (double)st->renew_at) &&
		 cJSON_AddStringToObject(o, "renew_rule", st->renew_from_ari ? "ari" : "lifetime") &&
		 cJSON_AddNumberToObject(o, "version", (double)version) &&
		 (st->last_error[0] ? cJSON_AddStringToObject(o, "last_error", st->last_error) != NULL :
				      cJSON_AddNullToObject(o, "last_error") != NULL);
	for (size_t i = 0; ok && i < cfg->ndomains; i++)
		ok = cJSON_AddItemToArray(names, cJSON_CreateString(cfg->domains[i]));
	if (ok && mgr_is_helper) {
		/* The manager process serves no handshakes (no cache): it is listed as what publishes. */
		struct at_proc_stat ps;
		cJSON *p = cJSON_CreateObject();
		pid_t ppid = proc_info(getpid(), &ps);
		ok = p != NULL && cJSON_AddItemToArray(procs, p) && cJSON_AddNumberToObject(p, "pid", (double)getpid()) &&
		     cJSON_AddNumberToObject(p, "ppid", (double)ppid) && cJSON_AddStringToObject(p, "comm", ps.comm) &&
		     cJSON_AddStringToObject(p, "role", "manager") && cJSON_AddBoolToObject(p, "serving_newest", 1);
	}
	for (size_t i = 0; ok && i < n; i++) {
		struct at_proc_stat ps;
		pid_t ppid = proc_info(seen[i].pid, &ps);
		/* A process whose parent is listed is a worker; one that is the parent of a listed one, a master. */
		const char *role = "process";
		for (size_t k = 0; k < n; k++) {
			if (k != i && seen[k].pid == ppid)
				role = "worker";
		}
		if (strcmp(role, "process") == 0)
			for (size_t k = 0; k < n; k++)
				if (k != i && proc_info(seen[k].pid, &(struct at_proc_stat){ 0 }) == seen[i].pid)
					role = "master";
		cJSON *p = cJSON_CreateObject();
		ok = p != NULL && cJSON_AddItemToArray(procs, p) &&
		     cJSON_AddNumberToObject(p, "pid", (double)seen[i].pid) &&
		     cJSON_AddNumberToObject(p, "ppid", (double)ppid) && cJSON_AddStringToObject(p, "comm", ps.comm) &&
		     cJSON_AddStringToObject(p, "role", role) &&
		     cJSON_AddBoolToObject(p, "leader", !mgr_is_helper && seen[i].pid == getpid()) &&
		     cJSON_AddNumberToObject(p, "generation", (double)seen[i].generation) &&
		     cJSON_AddNumberToObject(p, "synced_ms_ago", (double)(now_ms - seen[i].at_ms)) &&
		     cJSON_AddBoolToObject(p, "serving_newest", version != 0 && seen[i].generation >= version);
	}
	if (!ok) {
		cJSON_Delete(o);
		return error_line("out of memory");
	}
	return line_of(o);
}

/* One request line of c: status is answered; renew and revoke are checked and handed to the leader (req). */
static void handle(struct client *c, struct mgr_control_req *req)
{
	char msg[400];
	char *nl = memchr(c->buf, '\n', c->len);
	*nl = '\0';
	cJSON *j = cJSON_Parse(c->buf);
	const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "cmd"));
	if (cmd == NULL) {
		c->answer = error_line("not a request: one JSON line with \"cmd\" (status, renew, revoke)");
	} else if (strcmp(cmd, "status") == 0) {
		c->answer = status_line();
	} else if (strcmp(cmd, "renew") == 0) {
		const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "names"), *nm;
		cJSON_ArrayForEach(nm, names)
		{
			const char *s = cJSON_GetStringValue(nm);
			if (s == NULL || !managed(s)) {
				snprintf(msg, sizeof(msg), "%.255s is not a name this server manages (AUTOTLS_DOMAINS)",
					 s ? s : "?");
				c->answer = error_line(msg);
				break;
			}
		}
		if (c->answer == NULL) {
			c->waiting = 1;
			if (req->ask == MGR_ASK_NONE)
				req->ask = MGR_ASK_RENEW;
			req->force |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "force"));
			at_log_info("control channel: renewal%s asked", req->force ? " (forced)" : "");
		}
	} else if (strcmp(cmd, "revoke") == 0) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "name"));
		const cJSON *reason = cJSON_GetObjectItemCaseSensitive(j, "reason");
		int r = cJSON_IsNumber(reason) ? reason->valueint : 0;
		/* RFC 5280 section 5.3.1's CRLReason codes; 7 is unused, 8 (removeFromCRL) is not a revocation. */
		if (name == NULL || !managed(name)) {
			snprintf(msg, sizeof(msg), "%.255s is not a name this server manages (AUTOTLS_DOMAINS)",
				 name ? name : "(none)");
			c->answer = error_line(msg);
		} else if (r < 0 || r > 10 || r == 7 || r == 8) {
			c->answer = error_line("not a revocation reason (RFC 5280 section 5.3.1)");
		} else {
			c->waiting = 1;
			req->ask = MGR_ASK_REVOKE;
			req->force = 1;
			req->reason = r;
			at_log_info("control channel: revocation of %s asked (reason %d)", name, r);
		}
	} else {
		snprintf(msg, sizeof(msg), "unknown command %.40s: status, renew, revoke", cmd);
		c->answer = error_line(msg);
	}
	cJSON_Delete(j);
	if (c->answer == NULL && !c->waiting)
		c->answer = error_line("out of memory");
}

void mgr_control_wait(long ms, struct mgr_control_req *req)
{
	struct pollfd p[MAX_CLIENTS + 1];
	int idx[MAX_CLIENTS + 1], np = 0, ready[MAX_CLIENTS];
	int l = atomic_load(&lfd);

	memset(req, 0, sizeof(*req));
	if (l < 0 || owner_pid != getpid()) {
		mgr_sleep_ms(ms);
		return;
	}
	p[np].fd = l;
	p[np].events = POLLIN;
	idx[np++] = -1;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		ready[i] = 0;
		int fd = atomic_load(&clients[i].fd);
		if (fd >= 0 && !clients[i].waiting) {
			p[np].fd = fd;
			p[np].events = POLLIN;
			idx[np++] = i;
		}
	}
	mgr_quiesce_leave();
	int r = poll(p, (nfds_t)np, (int)ms);
	int64_t now = mono_ms();
	for (int k = 0; r > 0 && k < np; k++) {
		if (p[k].revents == 0)
			continue;
		if (idx[k] < 0)
			accept_new(l);
		else
			ready[idx[k]] = read_client(&clients[idx[k]]);
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (ready[i] < 0 ||
		    (atomic_load(&clients[i].fd) >= 0 && !clients[i].waiting && ready[i] == 0 &&
		     now - clients[i].since_ms > IDLE_MS))
			send_and_close(&clients[i]);
	}
	mgr_quiesce_enter();
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (ready[i] > 0)
			handle(&clients[i], req);
	flush_answers();
}

void mgr_control_done(int rc, const char *serial, const char *revoked, const char *detail)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &clients[i];
		if (!c->waiting || atomic_load(&c->fd) < 0)
			continue;
		cJSON *o = cJSON_CreateObject();
		int ok = o != NULL && cJSON_AddBoolToObject(o, "ok", rc == 0) &&
			 (serial == NULL || cJSON_AddStringToObject(o, "serial", serial)) &&
			 (revoked == NULL || cJSON_AddStringToObject(o, "revoked", revoked)) &&
			 cJSON_AddNumberToObject(o, "not_after", (double)mgr_control_state.not_after) &&
			 (rc == 0 || cJSON_AddStringToObject(o, "error", at_strerror(rc))) &&
			 (detail == NULL || cJSON_AddStringToObject(o, "detail", detail));
		if (!ok) {
			cJSON_Delete(o);
			o = NULL;
		}
		c->answer = line_of(o);
		if (c->answer == NULL)
			c->answer = error_line("out of memory");
		c->waiting = 0;
	}
	flush_answers();
}

void mgr_control_close(void)
{
	if (owner_pid != getpid())
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (atomic_load(&clients[i].fd) >= 0 && clients[i].answer == NULL)
			clients[i].answer = error_line("the manager stopped leading this store; ask again");
	flush_answers();
	int l = atomic_exchange(&lfd, -1);
	if (l >= 0) {
		unlink(sock_path);
		close(l);
	}
}
