/*
 * HTTP-01's built-in responder (see http01.h): the first present() binds the configured port and starts a thread
 * that answers GET /.well-known/acme-challenge/<token> for pending tokens; the last cleanup() stops it and
 * closes the port. What to answer is decided by the request parser (http01_request.c); this file owns the
 * sockets, the thread and the replies.
 *
 * Who calls what: present(), cleanup() and the probe run on the caller's solver thread, one at a time (the
 * shim's manager thread, holding its quiesce lock); only they start and stop the thread. The responder thread
 * only reads the token table (under h01_mu, http01.c) and its own connections, never touches OpenSSL, libcurl
 * or a store, so it needs no quiesce lock; it never runs on a server thread and blocks every signal. Fork: the
 * child closes its copies of the listening sockets and the wake pipe (a forked worker must not keep port 80
 * open) and forgets the thread, which does not exist there.
 *
 * Every read from the network is capped (AT_HTTP01_REQ_MAX per request head, the read timeout per connection,
 * AT_HTTP01_MAX_CONNS connections at once).
 */
#include "challenge/http01.h"
#include "challenge/http01_request.h"
#include "challenge/http01_shared.h"
#include "acme/solver.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define H01_READ_TIMEOUT_MS 5000L /* per connection, from accept, unless the configuration says otherwise */

/* The responder; only the solver thread starts and stops it. */
static int h01_listen[2] = { -1, -1 };
static int h01_nlisten;
static int h01_wake[2] = { -1, -1 };
static pthread_t h01_thread;
static int h01_running;
static int h01_port;                /* what it listens on, for the log */
static int h01_redirect;            /* copied from the configuration at start: the thread reads these */
static long h01_read_timeout_ms;
static int h01_bind_errno;          /* why the last open_listeners() failed */

static void send_reply(int fd, const char *status, const char *extra, const char *body)
{
	char out[AT_HTTP01_REQ_MAX + 1024];
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

/* Answers one complete request head head[0..len). */
static void answer(int fd, const char *head, size_t len)
{
	struct at_http01_request req;
	char keyauth[AT_HTTP01_KEYAUTH_MAX + 1];
	char location[sizeof(req.location) + 16];

	if (at_http01_request_parse(&req, head, len, h01_redirect) != 0) {
		send_reply(fd, "400 Bad Request", NULL, NULL);
		return;
	}
	if (req.answer == AT_HTTP01_KEYAUTH && at_http01_table_lookup(keyauth, req.token, req.token_len) == 0) {
		send_reply(fd, "200 OK", "Content-Type: application/octet-stream\r\n", keyauth);
		at_log_debug("http-01: answered a validation request for token %.*s", (int)req.token_len, req.token);
	} else if (req.answer == AT_HTTP01_REDIRECT) {
		snprintf(location, sizeof(location), "Location: %s\r\n", req.location);
		send_reply(fd, "301 Moved Permanently", location, NULL);
	} else {
		send_reply(fd, "404 Not Found", NULL, NULL);
	}
}

struct h01_conn {
	int fd;
	long deadline;
	size_t len;
	char buf[AT_HTTP01_REQ_MAX + 1];
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
	size_t head_len;
	ssize_t r = recv(c->fd, c->buf + c->len, AT_HTTP01_REQ_MAX - c->len, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	if (at_http01_request_end(c->buf, c->len, &head_len) == 0) {
		answer(c->fd, c->buf, head_len);
		conn_close(c);
	} else if (c->len == AT_HTTP01_REQ_MAX) {
		send_reply(c->fd, "431 Request Header Fields Too Large", NULL, NULL);
		conn_close(c);
	}
}

static void *responder_main(void *arg)
{
	(void)arg;
	struct h01_conn *conns = calloc(AT_HTTP01_MAX_CONNS, sizeof(*conns));
	size_t maxc = conns ? AT_HTTP01_MAX_CONNS : 0;
	if (conns == NULL)
		at_log_warn("http-01: out of memory; the responder answers nothing");
	for (size_t i = 0; i < maxc; i++)
		conns[i].fd = -1;
	for (;;) {
		struct pollfd p[1 + 2 + AT_HTTP01_MAX_CONNS];
		int who[1 + 2 + AT_HTTP01_MAX_CONNS]; /* -1 wake, -2/-3 listener 0/1, else a connection */
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

static int responder_start(const struct at_http01_config *cfg)
{
	int rc = open_listeners(cfg->port, 1);
	if (rc != 0) {
		if (h01_bind_errno == EADDRINUSE)
			at_log_info("http-01: port %d is in use; HTTP-01 is not available this time", cfg->port);
		else
			at_log_info("http-01: cannot listen on port %d: %s", cfg->port, strerror(h01_bind_errno));
		return rc;
	}
	if (pipe2(h01_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		close_listeners();
		return AT_E_IO;
	}
	h01_port = cfg->port;
	h01_redirect = cfg->redirect;
	h01_read_timeout_ms = cfg->read_timeout_ms > 0 ? cfg->read_timeout_ms : H01_READ_TIMEOUT_MS;
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
	at_log_debug("http-01: responder listening on port %d", cfg->port);
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
	at_log_debug("http-01: responder stopped, port %d closed", h01_port);
}

int at_http01_responder_present(void *ctx, const struct at_challenge *ch)
{
	const struct at_http01_config *cfg = ctx;
	size_t left;
	int rc = at_http01_challenge_ok(ch);
	if (rc != 0)
		return rc;
	/* In the table first, so the first request after the port opens finds it. */
	rc = at_http01_table_add(ch->token, ch->key_authorization);
	if (rc != 0)
		return rc;
	if (!h01_running) {
		rc = responder_start(cfg);
		if (rc != 0) {
			at_http01_table_remove(ch->token, &left);
			return rc;
		}
	}
	return 0;
}

void at_http01_responder_cleanup(void *ctx, const struct at_challenge *ch)
{
	size_t left;
	(void)ctx;
	if (ch == NULL || ch->token == NULL)
		return;
	at_http01_table_remove(ch->token, &left);
	if (left == 0)
		responder_stop();
}

int at_http01_responder_probe(int port)
{
	return h01_running ? 0 : open_listeners(port, 0);
}

int at_http01_responder_running(void)
{
	return h01_running;
}

void at_http01_responder_fork_child(void)
{
	close_listeners();
	for (int i = 0; i < 2; i++) {
		if (h01_wake[i] >= 0)
			close(h01_wake[i]);
		h01_wake[i] = -1;
	}
	h01_running = 0;
}
