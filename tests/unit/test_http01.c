/*
 * The HTTP-01 solver (challenge/http01*.c), through the solver interface: the built-in responder
 * opens its port on the first present(), answers the key authorization for pending tokens only, redirects
 * (or not) everything else, refuses hostile requests, leaves a port in use alone, and closes the port when the
 * last challenge is cleaned up; webroot mode writes and removes the file and the folders it made.
 */
#include "challenge/http01.h"
#include "acme/solver.h"
#include "tests/harness/pebble.h" /* harness_read_file */
#include "tests/test.h"
#include "util/err.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct at_http01_config cfg;

#define TOKEN_A "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define TOKEN_B "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
#define THUMB "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

static struct at_challenge challenge(const char *token, const char *keyauth)
{
	struct at_challenge ch;
	memset(&ch, 0, sizeof(ch));
	ch.type = AT_CHALLENGE_HTTP_01;
	ch.identifier_type = "dns";
	ch.identifier = "a.example.test";
	ch.token = token;
	ch.key_authorization = keyauth;
	return ch;
}

/* A port nobody listens on now (bound on 0.0.0.0 and closed again). */
static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return ntohs(a.sin_port);
}

static int connect_to(int family, int port)
{
	int fd = socket(family, SOCK_STREAM, 0);
	struct timeval tv = { 3, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int rc;
	if (family == AF_INET) {
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	} else {
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
		a.sin6_addr = in6addr_loopback;
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	}
	if (rc != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Sends req as is and reads the whole answer into resp. Returns its length, or -1. */
static int raw_request(int family, int port, const char *req, size_t reqlen, char *resp, size_t cap)
{
	int fd = connect_to(family, port);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < reqlen) {
		ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = recv(fd, resp + n, cap - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	resp[n] = '\0';
	close(fd);
	return (int)n;
}

static int get(int port, const char *path, const char *hosthdr, char *resp, size_t cap)
{
	char req[1024];
	if (hosthdr)
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n", path,
			 hosthdr);
	else
		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
	return raw_request(AF_INET, port, req, strlen(req), resp, cap);
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int refused(int family, int port)
{
	int fd = connect_to(family, port);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == ECONNREFUSED;
}

static int have_ipv6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	a.sin6_addr = in6addr_loopback;
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void setup(int port, int redirect, const char *webroot)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.port = port;
	cfg.redirect = redirect;
	cfg.webroot = webroot;
}

/* 1 while the built-in responder runs and holds its port. */
static int h01_running(void)
{
	struct at_http01_state st;
	at_http01_get_state(&st);
	return st.listening;
}

/* How many tokens are pending. */
static size_t h01_count(void)
{
	struct at_http01_state st;
	at_http01_get_state(&st);
	return st.pending;
}

/* setup() on a free port without a webroot, then the solver: 0 with *port set, or -1. */
static int solver_on_free_port(int redirect, struct at_solver *s, int *port)
{
	*port = free_port();
	if (*port <= 0)
		return -1;
	setup(*port, redirect, NULL);
	return at_http01_solver(s, &cfg);
}

static void responder_answers_and_closes(void)
{
	char resp[4096];
	struct at_solver s;
	int port;
	REQUIRE(solver_on_free_port(0, &s, &port) == 0);
	CHECK_INT(s.type, ==, AT_CHALLENGE_HTTP_01);
	CHECK(refused(AF_INET, port)); /* nothing listens before the first present() */

	struct at_challenge a = challenge(TOKEN_A, TOKEN_A "." THUMB);
	struct at_challenge b = challenge(TOKEN_B, TOKEN_B "." THUMB);
	REQUIRE(s.present(s.ctx, &a) == 0);
	CHECK_INT(h01_running(), ==, 1);
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, "a.example.test", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	CHECK(strstr(resp, "\r\nContent-Type: application/octet-stream\r\n") != NULL);
	CHECK_STR(body_of(resp), TOKEN_A "." THUMB);
	/* The validator's own form: HTTP/1.0 without Host is fine for the challenge path. */
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, NULL, resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	if (have_ipv6_loopback()) {
		const char *req = "GET /.well-known/acme-challenge/" TOKEN_A " HTTP/1.1\r\nHost: x\r\n\r\n";
		REQUIRE(raw_request(AF_INET6, port, req, strlen(req), resp, sizeof(resp)) > 0);
		CHECK(starts(resp, "HTTP/1.1 200 "));
	}

	/* Other tokens, other paths, other methods: 404, no redirect without AUTOTLS_HTTP_REDIRECT. */
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_B, "a.example.test", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));
	REQUIRE(get(port, "/.well-known/acme-challenge/../../etc/passwd", "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));
	REQUIRE(get(port, "/.well-known/acme-challenge/", "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));
	REQUIRE(get(port, "/index.html", "a.example.test", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));
	CHECK(strstr(resp, "Location:") == NULL);
	const char *post = "POST /.well-known/acme-challenge/" TOKEN_A " HTTP/1.1\r\nHost: a\r\n\r\n";
	REQUIRE(raw_request(AF_INET, port, post, strlen(post), resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));

	/* Two pending; the port stays open until the last one is cleaned up. */
	REQUIRE(s.present(s.ctx, &b) == 0);
	s.cleanup(s.ctx, &a);
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_B, "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	CHECK_STR(body_of(resp), TOKEN_B "." THUMB);
	s.cleanup(s.ctx, &b);
	CHECK_INT(h01_running(), ==, 0);
	CHECK(refused(AF_INET, port));
	if (have_ipv6_loopback())
		CHECK(refused(AF_INET6, port));

	/* And it opens again for the next order. */
	REQUIRE(s.present(s.ctx, &a) == 0);
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	s.cleanup(s.ctx, &a);
	CHECK(refused(AF_INET, port));
}

static void redirect_when_asked(void)
{
	char resp[16384];
	struct at_solver s;
	int port;
	REQUIRE(solver_on_free_port(1, &s, &port) == 0);
	struct at_challenge a = challenge(TOKEN_A, TOKEN_A "." THUMB);
	REQUIRE(s.present(s.ctx, &a) == 0);

	REQUIRE(get(port, "/shop/item?id=7&x=%20", "a.example.test", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 301 "));
	CHECK(strstr(resp, "\r\nLocation: https://a.example.test/shop/item?id=7&x=%20\r\n") != NULL);
	/* The plain-HTTP port is dropped. */
	REQUIRE(get(port, "/", "A.Example.Test:80", resp, sizeof(resp)) > 0);
	CHECK(strstr(resp, "\r\nLocation: https://A.Example.Test/\r\n") != NULL);
	/* The challenge still answers; an unknown token is still a 404, never a redirect. */
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, "a.example.test", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_B, "a.example.test", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 404 "));

	/* Hosts that must not end up in a Location header: 400. */
	static const char *const bad_hosts[] = {
		"evil.test/x", "a b", "a\tb.test:", "a@b", "[::1]", "a:1:2", ":80", "a:", "a:123456", "a_b.test", "",
	};
	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
		REQUIRE(get(port, "/", bad_hosts[i], resp, sizeof(resp)) > 0);
		if (!starts(resp, "HTTP/1.1 400 "))
			fprintf(stderr, "  Host: %s got %.40s\n", bad_hosts[i], resp);
		CHECK(starts(resp, "HTTP/1.1 400 "));
	}
	char longhost[400];
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	REQUIRE(get(port, "/", longhost, resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 400 "));
	REQUIRE(get(port, "/", NULL, resp, sizeof(resp)) > 0); /* no Host */
	CHECK(starts(resp, "HTTP/1.1 400 "));
	const char *two = "GET / HTTP/1.1\r\nHost: a.test\r\nHost: evil.test\r\n\r\n";
	REQUIRE(raw_request(AF_INET, port, two, strlen(two), resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 400 "));
	s.cleanup(s.ctx, &a);
	CHECK(refused(AF_INET, port));
}

static void hostile_requests(void)
{
	char resp[4096];
	struct at_solver s;
	int port;
	REQUIRE(solver_on_free_port(1, &s, &port) == 0);
	struct at_challenge a = challenge(TOKEN_A, TOKEN_A "." THUMB);
	cfg.read_timeout_ms = 300;
	REQUIRE(s.present(s.ctx, &a) == 0);

	static const char *const malformed[] = {
		"GET\r\n\r\n", "GET /\r\n\r\n", "GET / FTP/1.0\r\n\r\n", " / HTTP/1.1\r\n\r\n",
		"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a\xff HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		REQUIRE(raw_request(AF_INET, port, malformed[i], strlen(malformed[i]), resp, sizeof(resp)) > 0);
		CHECK(starts(resp, "HTTP/1.1 400 "));
	}

	/* Over 8 KiB without the end of the head: refused, never buffered on. */
	char big[12000];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + n, 'x', sizeof(big) - (size_t)n);
	REQUIRE(raw_request(AF_INET, port, big, sizeof(big), resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 431 "));

	/* A silent client neither blocks the validator nor keeps its slot past the read timeout. */
	int silent = connect_to(AF_INET, port);
	REQUIRE(silent >= 0);
	REQUIRE(send(silent, "GET /", 5, MSG_NOSIGNAL) == 5);
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	long t0 = (long)time(NULL);
	char c;
	CHECK_INT(recv(silent, &c, 1, 0), ==, 0); /* closed by the responder, no answer */
	CHECK_INT((long)time(NULL) - t0, <=, 2);
	close(silent);

	/* More clients than slots: the rest wait in the backlog and are answered once slots free up. */
	int hold[AT_HTTP01_MAX_CONNS + 4];
	for (size_t i = 0; i < sizeof(hold) / sizeof(hold[0]); i++)
		hold[i] = connect_to(AF_INET, port);
	REQUIRE(get(port, "/.well-known/acme-challenge/" TOKEN_A, "a", resp, sizeof(resp)) > 0);
	CHECK(starts(resp, "HTTP/1.1 200 "));
	for (size_t i = 0; i < sizeof(hold) / sizeof(hold[0]); i++)
		if (hold[i] >= 0)
			close(hold[i]);

	s.cleanup(s.ctx, &a);
	CHECK(refused(AF_INET, port));
}

static void port_in_use_is_left_alone(void)
{
	struct at_solver s;
	int port = free_port();
	REQUIRE(port > 0);
	int holder = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(holder, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a4.sin_addr.s_addr = htonl(INADDR_ANY);
	REQUIRE(bind(holder, (struct sockaddr *)&a4, sizeof(a4)) == 0 && listen(holder, 4) == 0);
	setup(port, 0, NULL);
	/* In use is no reason not to offer it: the port may be free by the next order. */
	REQUIRE(at_http01_solver(&s, &cfg) == 0);
	struct at_challenge a = challenge(TOKEN_A, TOKEN_A "." THUMB);
	CHECK_INT(s.present(s.ctx, &a), ==, AT_E_NET);
	CHECK_INT(h01_running(), ==, 0);
	CHECK_INT(h01_count(), ==, 0);
	s.cleanup(s.ctx, &a); /* the client cleans up only what it presented; harmless all the same */
	close(holder);
	CHECK_OK(s.present(s.ctx, &a));
	CHECK_INT(h01_running(), ==, 1);
	s.cleanup(s.ctx, &a);
	CHECK_INT(h01_running(), ==, 0);
}

static void bad_challenges_refused(void)
{
	struct at_solver s;
	int port;
	REQUIRE(solver_on_free_port(0, &s, &port) == 0);
	static const struct {
		const char *token, *keyauth;
	} t[] = {
		{ "../../etc/passwd", "../../etc/passwd." THUMB },
		{ "a/b", "a/b." THUMB },
		{ "", "." THUMB },
		{ TOKEN_A, TOKEN_B "." THUMB },
		{ TOKEN_A, TOKEN_A },
		{ TOKEN_A, TOKEN_A "." },
		{ TOKEN_A, TOKEN_A ".a\r\nX: y" },
		{ TOKEN_A, NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct at_challenge ch = challenge(t[i].token, t[i].keyauth);
		CHECK_INT(s.present(s.ctx, &ch), ==, AT_E_INVAL);
	}
	CHECK_INT(h01_running(), ==, 0);
	CHECK_INT(h01_count(), ==, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void webroot_writes_and_removes(void)
{
	char root[] = "/tmp/at-webroot-XXXXXX";
	char path[512], buf[1024];
	struct at_solver s;
	REQUIRE(mkdtemp(root) != NULL);
	setup(free_port(), 0, root);
	REQUIRE(at_http01_solver(&s, &cfg) == 0);
	mode_t old_umask = umask(077); /* the files must be readable by the web server all the same */
	struct at_challenge a = challenge(TOKEN_A, TOKEN_A "." THUMB);
	struct at_challenge b = challenge(TOKEN_B, TOKEN_B "." THUMB);
	CHECK_OK(s.present(s.ctx, &a));
	CHECK_OK(s.present(s.ctx, &b));
	CHECK_INT(h01_running(), ==, 0); /* no built-in responder in webroot mode */
	CHECK(refused(AF_INET, cfg.port));
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", root, TOKEN_A);
	size_t len = 0;
	char *data = harness_read_file(path, &len);
	REQUIRE(data != NULL);
	CHECK_INT(len, ==, strlen(TOKEN_A "." THUMB));
	CHECK(memcmp(data, TOKEN_A "." THUMB, len) == 0);
	free(data);
	CHECK_INT(mode_of(path), ==, 0644);
	snprintf(buf, sizeof(buf), "%s/.well-known", root);
	CHECK_INT(mode_of(buf), ==, 0755);
	snprintf(buf, sizeof(buf), "%s/.well-known/acme-challenge", root);
	CHECK_INT(mode_of(buf), ==, 0755);
	/* No temp file left beside them. */
	DIR *d = opendir(buf);
	int entries = 0;
	for (struct dirent *e; d && (e = readdir(d)) != NULL;)
		entries += e->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK_INT(entries, ==, 2);

	s.cleanup(s.ctx, &a);
	CHECK_INT(mode_of(path), ==, (mode_t)-1);
	CHECK_INT(mode_of(buf), ==, 0755); /* b is still pending */
	s.cleanup(s.ctx, &b);
	snprintf(buf, sizeof(buf), "%s/.well-known", root);
	CHECK_INT(mode_of(buf), ==, (mode_t)-1); /* the folders it made are gone */

	/* Folders that were there before stay, and so do the host's files in them. */
	CHECK_OK(mkdir(buf, 0750));
	CHECK_OK(chmod(buf, 0750));
	CHECK_OK(s.present(s.ctx, &a));
	snprintf(path, sizeof(path), "%s/.well-known/security.txt", root);
	FILE *f = fopen(path, "w");
	REQUIRE(f != NULL);
	fclose(f);
	s.cleanup(s.ctx, &a);
	CHECK_INT(mode_of(buf), ==, 0750);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", root);
	CHECK_INT(mode_of(path), ==, (mode_t)-1);

	/* A link planted where a folder belongs is not followed. */
	CHECK_OK(symlink("/tmp", path));
	CHECK(s.present(s.ctx, &a) != 0);
	snprintf(path, sizeof(path), "/tmp/%s", TOKEN_A);
	CHECK_INT(mode_of(path), ==, (mode_t)-1);
	CHECK_INT(h01_count(), ==, 0);

	/* Bad tokens never reach the file system. */
	struct at_challenge bad = challenge("..", "..." THUMB);
	CHECK_INT(s.present(s.ctx, &bad), ==, AT_E_INVAL);
	umask(old_umask);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void webroot_not_offered_when_unusable(void)
{
	struct at_solver s;
	memset(&s, 0, sizeof(s));
	setup(80, 0, "/nonexistent/autotls-webroot");
	CHECK_INT(at_http01_solver(&s, &cfg), ==, AT_E_NOTFOUND);
	CHECK(s.present == NULL);
	setup(80, 0, "/etc/passwd");
	CHECK_INT(at_http01_solver(&s, &cfg), ==, AT_E_NOTFOUND);
	if (geteuid() != 0) {
		setup(80, 0, "/proc");
		CHECK_INT(at_http01_solver(&s, &cfg), ==, AT_E_PERM);
		/* Port 80 is not ours to bind without root (unless unprivileged ports start lower here). */
		setup(80, 0, NULL);
		int rc = at_http01_solver(&s, &cfg);
		FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
		int start = 1024;
		if (f) {
			if (fscanf(f, "%d", &start) != 1)
				start = 1024;
			fclose(f);
		}
		if (start > 80)
			CHECK_INT(rc, ==, AT_E_PERM);
	}
	CHECK_INT(at_http01_solver(&s, NULL), ==, AT_E_STATE);
}

int main(void)
{
	at_log_open(AT_LOG_SINK_STDERR, NULL, AT_LOG_ERROR); /* the refusals below log warnings */
	RUN(responder_answers_and_closes);
	RUN(redirect_when_asked);
	RUN(hostile_requests);
	RUN(port_in_use_is_left_alone);
	RUN(bad_challenges_refused);
	RUN(webroot_writes_and_removes);
	RUN(webroot_not_offered_when_unusable);
	return TEST_EXIT();
}
