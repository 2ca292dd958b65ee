/*
 * HTTP-01's webroot mode (see http01.h): present() writes <webroot>/.well-known/acme-challenge/<token> (folders
 * 0755, the file 0644, temp file + rename, every step relative to an open folder and without following links,
 * for the caller may be root writing into a folder the web server's user owns); cleanup() removes the file and
 * the folders it created once they are empty. The host's own web server answers the validator.
 *
 * Runs on the caller's solver thread only, one call at a time. Owns the two flags saying which folders this
 * process made; a forked child forgets them (the parent's files are the parent's to remove).
 */
#include "challenge/http01.h"
#include "challenge/http01_request.h"
#include "challenge/http01_shared.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folders this process created (removed again once empty). */
static int h01_made_wk, h01_made_ac;

/* Opens dirfd/name as a folder without following a link, creating it 0755 when missing (*made = 1). */
static int open_subdir(int dirfd, const char *name, int *made)
{
	if (mkdirat(dirfd, name, 0755) == 0)
		*made = 1;
	else if (errno != EEXIST)
		return -1;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && *made)
		fchmod(fd, 0755); /* whatever the umask: the web server's user must read it */
	return fd;
}

/* Closes the three folders of a present() or cleanup(); -1 is skipped. */
static void close_dirs(int root, int wk, int ac)
{
	if (ac >= 0)
		close(ac);
	if (wk >= 0)
		close(wk);
	if (root >= 0)
		close(root);
}

static int errno_code(int e)
{
	return e == EACCES || e == EPERM ? AT_E_PERM : e == ENOSPC ? AT_E_NOSPACE : AT_E_IO;
}

int at_http01_webroot_present(void *ctx, const struct at_challenge *ch)
{
	const struct at_http01_config *cfg = ctx;
	const char *root_path = cfg->webroot;
	int root = -1, wk = -1, ac = -1, fd;
	char tmp[AT_HTTP01_TOKEN_MAX + 32];
	int rc = at_http01_challenge_ok(ch);
	if (rc != 0)
		return rc;
	snprintf(tmp, sizeof(tmp), ".%s.%ld.tmp", ch->token, (long)getpid());
	root = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root >= 0)
		wk = open_subdir(root, ".well-known", &h01_made_wk);
	if (wk >= 0)
		ac = open_subdir(wk, "acme-challenge", &h01_made_ac);
	if (ac < 0) {
		rc = errno_code(errno);
		at_log_warn("http-01: cannot make %s/.well-known/acme-challenge: %s", root_path, strerror(errno));
		goto out;
	}
	unlinkat(ac, tmp, 0); /* a leftover of a crashed run of this pid */
	fd = openat(ac, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	size_t len = strlen(ch->key_authorization);
	int ok = fd >= 0 && fchmod(fd, 0644) == 0 && write(fd, ch->key_authorization, len) == (ssize_t)len;
	int e = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = 0;
		e = errno;
	}
	if (!ok) {
		rc = errno_code(e);
		at_log_warn("http-01: cannot write the challenge file under %s: %s", root_path, strerror(e));
		unlinkat(ac, tmp, 0);
		goto out;
	}
	if (renameat(ac, tmp, ac, ch->token) != 0) {
		rc = errno_code(errno);
		at_log_warn("http-01: cannot rename the challenge file under %s: %s", root_path, strerror(errno));
		unlinkat(ac, tmp, 0);
		goto out;
	}
	rc = at_http01_table_add(ch->token, ch->key_authorization);
	if (rc != 0)
		unlinkat(ac, ch->token, 0);
	else
		at_log_debug("http-01: %s/.well-known/acme-challenge/%s written", root_path, ch->token);
out:
	close_dirs(root, wk, ac);
	return rc;
}

void at_http01_webroot_cleanup(void *ctx, const struct at_challenge *ch)
{
	const struct at_http01_config *cfg = ctx;
	const char *root_path = cfg->webroot;
	size_t left;
	if (ch == NULL || ch->token == NULL || !at_http01_token_ok(ch->token, strlen(ch->token)))
		return;
	at_http01_table_remove(ch->token, &left);
	int root = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int wk = root >= 0 ? openat(root, ".well-known", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	int ac = wk >= 0 ? openat(wk, "acme-challenge", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
	if (ac < 0 || (unlinkat(ac, ch->token, 0) != 0 && errno != ENOENT))
		at_log_warn("http-01: cannot remove %s/.well-known/acme-challenge/%s: %s", root_path, ch->token,
			    strerror(errno));
	/* Only the folders we made, and only when empty (the host may keep its own files there). */
	if (left == 0 && wk >= 0 && h01_made_ac && unlinkat(wk, "acme-challenge", AT_REMOVEDIR) == 0)
		h01_made_ac = 0;
	if (left == 0 && root >= 0 && h01_made_wk && !h01_made_ac &&
	    unlinkat(root, ".well-known", AT_REMOVEDIR) == 0)
		h01_made_wk = 0;
	close_dirs(root, wk, ac);
}

void at_http01_webroot_fork_child(void)
{
	h01_made_wk = h01_made_ac = 0; /* the parent's files: the parent removes them */
}
