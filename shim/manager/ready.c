/*
 * "Can the tree answer a validation yet?" (issue 9, item 6). TLS-ALPN-01 is answered on the host's own port and
 * HTTP-01 through a webroot by the host's own web server: the CA must not be told to validate before the host
 * listens. Instead of a fixed settle before the first order, the challenge is presented (published), and then
 * present() waits until the process that started the manager (or, for an in-process leader, this process) has a
 * listening TCP socket, looked up through /proc: its descriptors' socket inodes against the LISTEN entries of
 * /proc/net/tcp and tcp6. The wait ends at once when that process is gone (it daemonised: every server we know
 * opens its listeners before it detaches, and the daemon inherits them) or cannot be inspected, and is bounded
 * (READY_WAIT_MS) for a tree whose listeners live in another process. Once seen, never asked again. HTTP-01's
 * own responder and DNS-01 need nothing of the host and are not wrapped.
 *
 * Manager thread only; the waits release the quiesce lock (mgr_sleep_ms).
 */
#include "shim/manager/manager.h"
#include "acme/solver.h"
#include "util/clock.h"
#include "util/log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READY_WAIT_MS 3000
#define READY_POLL_MS 5
#define MAX_SOCKETS 256

pid_t mgr_tree_pid;
static int tree_ready; /* seen listening once: never asked again */

enum listens { LISTENS_NO, LISTENS_YES, LISTENS_UNKNOWN };

/* The inodes of pid's sockets. Returns how many (capped), or -1 when pid is gone or cannot be inspected. */
static int socket_inodes(pid_t pid, unsigned long *out, int max)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL && n < max) {
		char link[320], target[64];
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		unsigned long ino;
		if (sscanf(target, "socket:[%lu]", &ino) == 1)
			out[n++] = ino;
	}
	closedir(d);
	return n;
}

/* 1 when one of inodes is a listening socket in table (/proc/net/tcp or tcp6). */
static int table_listens(const char *table, const unsigned long *inodes, int n)
{
	FILE *f = fopen(table, "re");
	char line[512];
	int found = 0;
	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) == NULL) { /* the header */
		fclose(f);
		return 0;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned st = 0;
		unsigned long ino = 0;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %lu", &st, &ino) != 2 || st != 0x0A)
			continue;
		for (int i = 0; i < n && !found; i++)
			found = inodes[i] == ino;
	}
	fclose(f);
	return found;
}

static enum listens tree_listens(void)
{
	unsigned long inodes[MAX_SOCKETS];
	pid_t pid = mgr_tree_pid > 0 ? mgr_tree_pid : getpid();
	int n = socket_inodes(pid, inodes, MAX_SOCKETS);
	if (n < 0)
		return LISTENS_UNKNOWN;
	if (n == 0)
		return LISTENS_NO;
	return table_listens("/proc/net/tcp", inodes, n) || table_listens("/proc/net/tcp6", inodes, n) ? LISTENS_YES
												       : LISTENS_NO;
}

void mgr_wait_tree_listens(void)
{
	if (tree_ready)
		return;
	long t0 = at_clock_ms();
	enum listens l;
	while ((l = tree_listens()) == LISTENS_NO && at_clock_ms() - t0 < READY_WAIT_MS)
		mgr_sleep_ms(READY_POLL_MS);
	tree_ready = 1;
	if (l == LISTENS_NO)
		at_log_warn("no listening socket in pid %d after %d ms; asking the CA to validate all the same",
			    (int)(mgr_tree_pid > 0 ? mgr_tree_pid : getpid()), READY_WAIT_MS);
	else
		at_log_debug("the server %s after %ld ms", l == LISTENS_YES ? "listens" : "cannot be inspected",
			     at_clock_ms() - t0);
}

/* A solver that waits for the tree's listener once its challenge is presented (the publishing overlaps the
 * wait). ctx is the solver wrapped. */
static int ready_present(void *ctx, const struct at_challenge *ch)
{
	const struct at_solver *inner = ctx;
	int rc = inner->present(inner->ctx, ch);
	if (rc == 0)
		mgr_wait_tree_listens();
	return rc;
}

static void ready_cleanup(void *ctx, const struct at_challenge *ch)
{
	const struct at_solver *inner = ctx;
	inner->cleanup(inner->ctx, ch);
}

void mgr_solver_when_ready(struct at_solver *out, const struct at_solver *inner)
{
	memset(out, 0, sizeof(*out));
	out->type = inner->type;
	out->present = ready_present;
	out->cleanup = ready_cleanup;
	out->ctx = (void *)inner;
}

bool mgr_solver_needs_host(const struct at_solver *s)
{
	return s->type == AT_CHALLENGE_TLS_ALPN_01 || (s->type == AT_CHALLENGE_HTTP_01 && mgr_host->cfg->webroot);
}
