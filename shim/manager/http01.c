/*
 * HTTP-01 for the shim's manager (RFC 8555 section 8.3), in one of two modes chosen by the configuration:
 *
 * - webroot (AUTOTLS_WEBROOT): present() writes <webroot>/.well-known/acme-challenge/<token> (folders 0755,
 *   the file 0644, temp file + rename, every step relative to an open folder and without following links, for
 *   the manager may be root writing into a folder the web server's user owns); cleanup() removes the file and
 *   the folders it created once they are empty. The host's own web server answers the validator.
 * - built-in responder: the first present() binds AUTOTLS_HTTP_PORT on [::] (dual-stack) or 0.0.0.0 and
 *   starts a thread that answers GET /.well-known/acme-challenge/<token> for pending tokens; the last cleanup()
 *   stops it and closes the port, so the port is the host's again. A port in use (the host serves plain HTTP
 *   itself) is not taken from anyone: present() fails and the client falls back to another challenge type.
 *   With AUTOTLS_HTTP_REDIRECT=1 every other request gets a 301 to https://<Host><path>.
 *
 * Who calls what: mgr_http01_solver(), present() and cleanup() run on the manager thread only (holding the
 * quiesce lock); the responder thread only reads the token table under h01_mu and never touches OpenSSL,
 * libcurl or the store, so it needs no quiesce lock. It never runs on a server thread and blocks every signal.
 * Fork: the manager is not inside present()/cleanup() then (the fork handlers in attach.c take the quiesce
 * lock), the responder may hold h01_mu; the child re-initialises the mutex, forgets the table and closes its
 * copies of the listening sockets (a forked worker must not keep port 80 open).
 *
 * Every read from the network is capped (8 KiB per request, 5 s per connection, 32 connections at once).
 */
#include "shim/manager/http01.h"
#include "util/clock.h"
#include "shim/manager/manager.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define H01_MAX_PENDING 64
#define H01_TOKEN_MAX 256
#define H01_KEYAUTH_MAX 512
#define H01_REQ_MAX 8192
#define H01_MAX_CONNS 32
#define H01_HOST_MAX 260 /* a 253-byte name and ":65535" */
#define H01_PREFIX "/.well-known/acme-challenge/"

struct h01_pending {
	char token[H01_TOKEN_MAX + 1];
	char keyauth[H01_KEYAUTH_MAX + 1];
};

/* The pending tokens: written by present()/cleanup(), read by the responder. */
static pthread_mutex_t h01_mu = PTHREAD_MUTEX_INITIALIZER;
static struct h01_pending h01_table[H01_MAX_PENDING];
static size_t h01_count;

/* The responder; only the manager thread starts and stops it. */
static int h01_listen[2] = { -1, -1 };
static int h01_nlisten;
static int h01_wake[2] = { -1, -1 };
static pthread_t h01_thread;
static int h01_running;
static int h01_redirect;
static long h01_read_timeout_ms = 5000; /* per connection, from accept; tests shorten it */

/* Webroot mode: the folders this process created (removed again once empty). */
static int h01_made_wk, h01_made_ac;

static int h01_last_reason; /* the last "not offered" reason logged */

static int b64url_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* 1 when t is a plausible ACME token: base64url, 1..H01_TOKEN_MAX characters (so never ".", "/" or ".."). */
static int token_ok(const char *t, size_t n)
{
	if (n == 0 || n > H01_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!b64url_char((unsigned char)t[i]))
			return 0;
	return 1;
}

/* The challenge carries a token and a key authorization "<token>.<thumbprint>" (section 8.1). */
static int challenge_ok(const struct at_challenge *ch)
{
	if (ch == NULL || ch->type != AT_CHALLENGE_HTTP_01 || ch->token == NULL || ch->key_authorization == NULL)
		return AT_E_INVAL;
	size_t tn = strlen(ch->token), kn = strlen(ch->key_authorization);
	if (!token_ok(ch->token, tn)) {
		at_log_warn("http-01: the CA sent a token that is not base64url; refused");
		return AT_E_INVAL;
	}
	if (kn > H01_KEYAUTH_MAX || kn <= tn + 1 || strncmp(ch->key_authorization, ch->token, tn) != 0 ||
	    ch->key_authorization[tn] != '.' || !token_ok(ch->key_authorization + tn + 1, kn - tn - 1)) {
		at_log_warn("http-01: the key authorization for token %s is malformed; refused", ch->token);
		return AT_E_INVAL;
	}
	return 0;
}

static int table_add(const char *token, const char *keyauth)
{
	int rc = 0;
	pthread_mutex_lock(&h01_mu);
	size_t i;
	for (i = 0; i < h01_count; i++)
		if (strcmp(h01_table[i].token, token) == 0)
			break;
	if (i == h01_count) {
		if (h01_count == H01_MAX_PENDING)
			rc = AT_E_RANGE;
		else
			h01_count++;
	}
	if (rc == 0) {
		snprintf(h01_table[i].token, sizeof(h01_table[i].token), "%s", token);
		snprintf(h01_table[i].keyauth, sizeof(h01_table[i].keyauth), "%s", keyauth);
	}
	pthread_mutex_unlock(&h01_mu);
	return rc;
}

/* Removes token (when present); returns how many stay pending. */
static size_t table_remove(const char *token)
{
	pthread_mutex_lock(&h01_mu);
	for (size_t i = 0; i < h01_count; i++) {
		if (strcmp(h01_table[i].token, token) != 0)
			continue;
		h01_table[i] = h01_table[h01_count - 1];
		memset(&h01_table[h01_count - 1], 0, sizeof(h01_table[0]));
		h01_count--;
		break;
	}
	size_t left = h01_count;
	pthread_mutex_unlock(&h01_mu);
	return left;
}

/* Copies the key authorization for token[0..n) into out (H01_KEYAUTH_MAX + 1 bytes). 1 when found. */
static int table_lookup(char *out, const char *token, size_t n)
{
	int found = 0;
	pthread_mutex_lock(&h01_mu);
	for (size_t i = 0; i < h01_count && !found; i++) {
		if (strlen(h01_table[i].token) == n && memcmp(h01_table[i].token, token, n) == 0) {
			memcpy(out, h01_table[i].keyauth, sizeof(h01_table[i].keyauth));
			found = 1;
		}
	}
	pthread_mutex_unlock(&h01_mu);
	return found;
}

/* ---- the built-in responder ---- */

/* Validates a Host header value and copies it without a ":port" into out (H01_HOST_MAX + 1). 0 or -1. */
static int host_ok(char *out, const char *v, size_t n)
{
	size_t colon = n;
	if (n == 0 || n > H01_HOST_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == ':') {
			if (colon != n)
				return -1; /* one port at most; IPv6 literals are not redirected */
			colon = i;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			     c == '-')) {
			return -1;
		}
	}
	if (colon == 0)
		return -1;
	if (colon != n) {
		/* The port of the plain-HTTP request means nothing for https://; drop it. */
		if (n - colon - 1 < 1 || n - colon - 1 > 5)
			return -1;
		for (size_t i = colon + 1; i < n; i++)
			if (v[i] < '0' || v[i] > '9')
				return -1;
	}
	memcpy(out, v, colon);
	out[colon] = '\0';
	return 0;
}

static void send_reply(int fd, const char *status, const char *extra, const char *body)
{
	char out[H01_REQ_MAX + 1024];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n"
			 "Cache-Control: no-store\r\n\r\n%s",
			 status, extra ? extra : "", blen, body ? body : "");
	if (n < 0 || (size_t)n >= sizeof(out))
		return;
	size_t off = 0;
	long deadline = at_clock_ms() + 1000;
	while (off < (size_t)n && at_clock_ms() < deadline) {
		ssize_t w = send(fd, out + off, (size_t)n - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, 100);
		} else {
			break;
		}
	}
}

/* Answers one complete request head req[0..len) (NUL-terminated). */
static void answer(int fd, const char *req, size_t len)
{
	const char *eol = memchr(req, '\n', len);
	const char *sp1 = eol ? memchr(req, ' ', (size_t)(eol - req)) : NULL;
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (sp2 == NULL || sp1 == req || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		send_reply(fd, "400 Bad Request", NULL, NULL);
		return;
	}
	const char *target = sp1 + 1;
	size_t tlen = (size_t)(sp2 - target);
	if (tlen == 0 || target[0] != '/') {
		send_reply(fd, "400 Bad Request", NULL, NULL);
		return;
	}
	for (size_t i = 0; i < tlen; i++) {
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f) {
			send_reply(fd, "400 Bad Request", NULL, NULL);
			return;
		}
	}
	size_t plen = strlen(H01_PREFIX);
	if (tlen >= plen && memcmp(target, H01_PREFIX, plen) == 0) {
		char keyauth[H01_KEYAUTH_MAX + 1];
		const char *token = target + plen;
		size_t n = tlen - plen;
		if (sp1 - req == 3 && memcmp(req, "GET", 3) == 0 && token_ok(token, n) &&
		    table_lookup(keyauth, token, n)) {
			send_reply(fd, "200 OK", "Content-Type: application/octet-stream\r\n", keyauth);
			at_log_debug("http-01: answered a validation request for token %.*s", (int)n, token);
		} else {
			send_reply(fd, "404 Not Found", NULL, NULL);
		}
		return;
	}
	if (!h01_redirect) {
		send_reply(fd, "404 Not Found", NULL, NULL);
		return;
	}
	/* RFC 9112 section 3.2: exactly one Host; anything odd is a 400, never a redirect to it. */
	char host[H01_HOST_MAX + 1];
	int hosts = 0, bad = 0;
	for (const char *line = eol + 1; line < req + len;) {
		const char *end = memchr(line, '\n', (size_t)(req + len - line));
		if (end == NULL)
			break;
		size_t ll = (size_t)(end - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (ll >= 5 && strncasecmp(line, "host:", 5) == 0) {
			const char *v = line + 5, *ve = line + ll;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			hosts++;
			bad |= host_ok(host, v, (size_t)(ve - v)) != 0;
		}
		line = end + 1;
	}
	if (hosts != 1 || bad) {
		send_reply(fd, "400 Bad Request", NULL, NULL);
		return;
	}
	char loc[H01_REQ_MAX + 512];
	int ln = snprintf(loc, sizeof(loc), "Location: https://%s%.*s\r\n", host, (int)tlen, target);
	if (ln < 0 || (size_t)ln >= sizeof(loc)) {
		send_reply(fd, "400 Bad Request", NULL, NULL);
		return;
	}
	send_reply(fd, "301 Moved Permanently", loc, NULL);
}

struct h01_conn {
	int fd;
	long deadline;
	size_t len;
	char buf[H01_REQ_MAX + 1];
};

static void conn_close(struct h01_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

/* Reads what is there; answers and closes once the head is complete, over the cap, or the peer is gone. */
static void conn_read(struct h01_conn *c)
{
	ssize_t r = recv(c->fd, c->buf + c->len, H01_REQ_MAX - c->len, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (end == NULL)
		end = memmem(c->buf, c->len, "\n\n", 2);
	if (end) {
		answer(c->fd, c->buf, (size_t)(end - c->buf) + 2);
		conn_close(c);
	} else if (c->len == H01_REQ_MAX) {
		send_reply(c->fd, "431 Request Header Fields Too Large", NULL, NULL);
		conn_close(c);
	}
}

static void *responder_main(void *arg)
{
	(void)arg;
	struct h01_conn *conns = calloc(H01_MAX_CONNS, sizeof(*conns));
	size_t maxc = conns ? H01_MAX_CONNS : 0;
	if (conns == NULL)
		at_log_warn("http-01: out of memory; the responder answers nothing");
	for (size_t i = 0; i < maxc; i++)
		conns[i].fd = -1;
	for (;;) {
		struct pollfd p[1 + 2 + H01_MAX_CONNS];
		int who[1 + 2 + H01_MAX_CONNS]; /* -1 wake, -2/-3 listener 0/1, else a connection */
		nfds_t n = 0;
		size_t open_conns = 0;
		long now = at_clock_ms(), timeout = -1;
		p[n] = (struct pollfd){ .fd = h01_wake[0], .events = POLLIN };
		who[n++] = -1;
		for (size_t i = 0; i < maxc; i++) {
			if (conns[i].fd < 0)
				continue;
			if (now >= conns[i].deadline) {
				conn_close(&conns[i]); /* a slow or silent client: no answer, the slot is free again */
				continue;
			}
			open_conns++;
			long left = conns[i].deadline - now;
			if (timeout < 0 || left < timeout)
				timeout = left;
			p[n] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
			who[n++] = (int)i;
		}
		if (open_conns < maxc) {
			for (int l = 0; l < h01_nlisten; l++) {
				p[n] = (struct pollfd){ .fd = h01_listen[l], .events = POLLIN };
				who[n++] = -2 - l;
			}
		}
		int pr = poll(p, n, (int)timeout);
		if (pr < 0 && errno != EINTR)
			break;
		if (pr <= 0)
			continue;
		if (p[0].revents)
			break;
		for (nfds_t k = 1; k < n; k++) {
			if (p[k].revents == 0)
				continue;
			if (who[k] >= 0) {
				conn_read(&conns[who[k]]);
				continue;
			}
			int lfd = h01_listen[-2 - who[k]];
			for (size_t i = 0; i < maxc; i++) {
				if (conns[i].fd >= 0)
					continue;
				int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (fd < 0)
					break;
				conns[i].fd = fd;
				conns[i].len = 0;
				conns[i].deadline = at_clock_ms() + h01_read_timeout_ms;
			}
		}
	}
	for (size_t i = 0; i < maxc; i++)
		conn_close(&conns[i]);
	free(conns);
	return NULL;
}

static void close_listeners(void)
{
	for (int l = 0; l < 2; l++) {
		if (h01_listen[l] >= 0)
			close(h01_listen[l]);
		h01_listen[l] = -1;
	}
	h01_nlisten = 0;
}

static int h01_bind_errno; /* why the last open_listeners() failed */

static int bind_error(int e)
{
	h01_bind_errno = e;
	return e == EACCES || e == EPERM ? AT_E_PERM : AT_E_NET;
}

/*
 * Binds port on [::] as one dual-stack socket when IPv6 is there, else on 0.0.0.0 (and [::] v6-only beside it
 * when dual-stack cannot be had). listening = 0 only probes (binds and closes). Never SO_REUSEPORT: a port
 * someone listens on stays theirs. Returns 0 or bind_error().
 */
static int open_listeners(int port, int listening)
{
	int one = 1, off = 0, rc = 0, dual = 0;
	close_listeners();
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd >= 0) {
		struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
		a6.sin6_addr = in6addr_any;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* our own TIME_WAITs only */
		dual = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0;
		if (!dual)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0 && (!listening || listen(fd, 64) == 0)) {
			h01_listen[h01_nlisten++] = fd;
		} else {
			int e = errno;
			close(fd);
			dual = 0;
			/* EADDRNOTAVAIL, EAFNOSUPPORT: no IPv6 on this host; IPv4 alone will do. */
			if (e == EADDRINUSE || e == EACCES || e == EPERM) {
				rc = bind_error(e);
				goto out;
			}
		}
	}
	if (!dual) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			rc = bind_error(errno);
			goto out;
		}
		struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		a4.sin_addr.s_addr = htonl(INADDR_ANY);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) != 0 || (listening && listen(fd, 64) != 0)) {
			rc = bind_error(errno);
			close(fd);
			goto out;
		}
		h01_listen[h01_nlisten++] = fd;
	}
out:
	if (rc != 0 || !listening)
		close_listeners();
	return rc;
}

static int responder_start(void)
{
	const struct shim_config *cfg = mgr_host->cfg;
	int rc = open_listeners(cfg->http_port, 1);
	if (rc != 0) {
		if (h01_bind_errno == EADDRINUSE)
			at_log_info("http-01: port %d is in use; HTTP-01 is not available this time", cfg->http_port);
		else
			at_log_info("http-01: cannot listen on port %d: %s", cfg->http_port, strerror(h01_bind_errno));
		return rc;
	}
	if (pipe2(h01_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		close_listeners();
		return AT_E_IO;
	}
	h01_redirect = cfg->http_redirect;
	/* The thread inherits a mask with every signal blocked: signals belong to the host's threads. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int e = pthread_create(&h01_thread, NULL, responder_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		close_listeners();
		close(h01_wake[0]);
		close(h01_wake[1]);
		h01_wake[0] = h01_wake[1] = -1;
		return AT_E_NOMEM;
	}
	h01_running = 1;
	at_log_debug("http-01: responder listening on port %d", cfg->http_port);
	return 0;
}

/* Stops the thread and closes the port; on return a connect to it is refused. */
static void responder_stop(void)
{
	if (!h01_running)
		return;
	ssize_t w;
	do
		w = write(h01_wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
	pthread_join(h01_thread, NULL);
	close_listeners();
	close(h01_wake[0]);
	close(h01_wake[1]);
	h01_wake[0] = h01_wake[1] = -1;
	h01_running = 0;
	at_log_debug("http-01: responder stopped, port %d closed", mgr_host->cfg->http_port);
}

static int builtin_present(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	int rc = challenge_ok(ch);
	if (rc != 0)
		return rc;
	/* In the table first, so the first request after the port opens finds it. */
	rc = table_add(ch->token, ch->key_authorization);
	if (rc != 0)
		return rc;
	if (!h01_running) {
		rc = responder_start();
		if (rc != 0) {
			table_remove(ch->token);
			return rc;
		}
	}
	return 0;
}

static void builtin_cleanup(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	if (ch == NULL || ch->token == NULL)
		return;
	if (table_remove(ch->token) == 0)
		responder_stop();
}

/* ---- webroot ---- */

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

static int errno_code(int e)
{
	return e == EACCES || e == EPERM ? AT_E_PERM : e == ENOSPC ? AT_E_NOSPACE : AT_E_IO;
}

static int webroot_present(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	const char *root_path = mgr_host->cfg->webroot;
	int root = -1, wk = -1, ac = -1, fd;
	char tmp[H01_TOKEN_MAX + 32];
	int rc = challenge_ok(ch);
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
	rc = table_add(ch->token, ch->key_authorization);
	if (rc != 0)
		unlinkat(ac, ch->token, 0);
	else
		at_log_debug("http-01: %s/.well-known/acme-challenge/%s written", root_path, ch->token);
out:
	if (ac >= 0)
		close(ac);
	if (wk >= 0)
		close(wk);
	if (root >= 0)
		close(root);
	return rc;
}

static void webroot_cleanup(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	const char *root_path = mgr_host->cfg->webroot;
	if (ch == NULL || ch->token == NULL || !token_ok(ch->token, strlen(ch->token)))
		return;
	size_t left = table_remove(ch->token);
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
	if (ac >= 0)
		close(ac);
	if (wk >= 0)
		close(wk);
	if (root >= 0)
		close(root);
}

/* ---- the solver ---- */

static void h01_fork_child(void)
{
	pthread_mutex_init(&h01_mu, NULL);
	memset(h01_table, 0, sizeof(h01_table));
	h01_count = 0;
	close_listeners();
	for (int i = 0; i < 2; i++) {
		if (h01_wake[i] >= 0)
			close(h01_wake[i]);
		h01_wake[i] = -1;
	}
	h01_running = 0;
	h01_made_wk = h01_made_ac = 0; /* the parent's files: the parent removes them */
}

static void h01_register_fork(void)
{
	if (pthread_atfork(NULL, NULL, h01_fork_child) != 0)
		at_log_warn("http-01: cannot register the fork handler");
}

static int not_offered(int rc, const char *why, const char *detail)
{
	if (rc != h01_last_reason)
		at_log_info("http-01 is not offered: %s%s", why, detail ? detail : "");
	h01_last_reason = rc;
	return rc;
}

int mgr_http01_solver(struct at_solver *out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const struct shim_config *cfg = mgr_host ? mgr_host->cfg : NULL;
	if (cfg == NULL)
		return not_offered(AT_E_STATE, "no configuration", NULL);
	if (cfg->webroot) {
		struct stat st;
		if (stat(cfg->webroot, &st) != 0 || !S_ISDIR(st.st_mode))
			return not_offered(AT_E_NOTFOUND, "AUTOTLS_WEBROOT is not a folder: ", cfg->webroot);
		if (faccessat(AT_FDCWD, cfg->webroot, W_OK | X_OK, AT_EACCESS) != 0)
			return not_offered(AT_E_PERM, "this user may not write into AUTOTLS_WEBROOT ", cfg->webroot);
	} else if (!h01_running && open_listeners(cfg->http_port, 0) == AT_E_PERM) {
		/* In use now is no reason (that may change by the next order); not allowed is. */
		return not_offered(AT_E_PERM, "this user may not bind AUTOTLS_HTTP_PORT (below 1024 that takes root "
				   "or CAP_NET_BIND_SERVICE)", NULL);
	}
	h01_last_reason = 0;
	pthread_once(&once, h01_register_fork);
	memset(out, 0, sizeof(*out));
	out->type = AT_CHALLENGE_HTTP_01;
	out->present = cfg->webroot ? webroot_present : builtin_present;
	out->cleanup = cfg->webroot ? webroot_cleanup : builtin_cleanup;
	out->ctx = NULL;
	return 0;
}
