/*
 * Hostile SNI values against `openssl s_server` under the shim, once the managed certificate is served: path
 * separators, "..", NUL bytes, control bytes (ESC, CR/LF log injection, DEL), bytes over 0x7f, names over 255
 * bytes (up to 5,000), an empty name and a malformed server_name list. 1,000 handshakes in all, each a
 * ClientHello written by hand (TLS 1.3 with 1.2 offered too; OpenSSL's client refuses NUL and long names, so
 * every value goes out as raw bytes), half of them offering only acme-tls/1 (the path where the ClientHello
 * callback parses the SNI itself and may sync the cache), half h2/http/1.1; every tenth value that OpenSSL's
 * client accepts also goes through a complete handshake with tls_client_connect.
 *
 * Afterwards: the server is alive and a verified handshake for the managed name works; Pebble's order count is
 * what it was; the store tree is byte-for-byte unchanged (every path, type, mode, size, mtime and content hash
 * listed before and after); the shim's log holds none of the raw values and no control byte but newline/tab.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARK "zq7hst"
#define HANDSHAKES 1000

struct hostile {
	unsigned char v[5100];
	size_t len;
	int raw_list; /* 1: v is the whole server_name extension body as is (a malformed list) */
};

static struct hostile names[64];
static int nnames;

static void add(const void *v, size_t len)
{
	struct hostile *h = &names[nnames++];
	memcpy(h->v, v, len);
	h->len = len;
	h->raw_list = 0;
}

static void add_str(const char *s)
{
	add(s, strlen(s));
}

static void build_names(void)
{
	unsigned char b[5100];

	add_str("../../../../etc/passwd." MARK);
	add_str(".." MARK);
	add_str("..");
	add_str(".");
	add_str("a.example.test/../../" MARK);
	add_str("a.example.test/" MARK);
	add_str("/" MARK "/a.example.test");
	add_str("..\\..\\" MARK "\\a.example.test");
	add_str("certificates/a.example.test/../../" MARK);
	add_str("%2e%2e%2f" MARK ".test");
	add_str("~root/" MARK);
	add_str("*." MARK ".test");
	add_str("a.example.test." MARK "..");
	add_str("A.EXAMPLE.TEST/" MARK);
	/* NUL bytes: a prefix that is the managed name, then NUL and more */
	add("a.example.test\0" MARK, 15 + sizeof(MARK) - 1);
	add("a.example.test\0", 15);
	add("\0" MARK ".test", 1 + sizeof(MARK) - 1 + 5);
	add("../\0/" MARK, 5 + sizeof(MARK) - 1);
	/* control bytes */
	add_str("\x1b[31m" MARK "\x1b[0m.test");
	add_str(MARK ".test\nFAKE autotls: published certificate for evil.test");
	add_str(MARK ".test\r\n\r\nGET / HTTP/1.1");
	add_str("\x01\x02\x03" MARK "\x7f.test");
	add_str(MARK "\t.test");
	add_str(MARK " .test");
	add_str("\x08\x08\x08\x08" MARK ".test");
	/* bytes over 0x7f: bad UTF-8, a UTF-8 slash look-alike, raw Latin-1 */
	add_str("\xff\xfe" MARK ".test");
	add_str("a.example.test\xe2\x88\x95" MARK);
	add_str("\xc0\xae\xc0\xae/" MARK);
	/* format-string bait */
	add_str("%s%s%s%n%n." MARK ".test");
	/* over 255 bytes: 256, 300, 1000, 5000; and one label over 63 */
	memset(b, 'a', sizeof(b));
	memcpy(b, MARK, sizeof(MARK) - 1);
	add(b, 256);
	add(b, 300);
	for (size_t i = 0; i < 1000; i += 8)
		b[i] = '.';
	memcpy(b, MARK, sizeof(MARK) - 1);
	add(b, 1000);
	memset(b, 'b', sizeof(b));
	memcpy(b, "../" MARK, 3 + sizeof(MARK) - 1);
	add(b, 5000);
	memset(b, 'c', 64);
	memcpy(b, MARK, sizeof(MARK) - 1);
	memcpy(b + 64, ".example.test", 13);
	add(b, 77);
	/* the managed name with a trailing dot, and with ../ after it (must not be served as managed) */
	add_str("a.example.test.");
	add_str("a.example.test/..");
	/* an empty host_name */
	add("", 0);
	/* malformed lists: a length that runs past the extension, two host_names, a non-host_name type */
	struct hostile *h = &names[nnames++];
	memcpy(h->v, "\x00\x20\x00\x00\x40" MARK, 5 + sizeof(MARK) - 1);
	h->len = 5 + sizeof(MARK) - 1;
	h->raw_list = 1;
	h = &names[nnames++];
	{
		static const char two[] = "\x00\x00\x00\x00\x0e"
					  "a.example.test"
					  "\x00\x00\x0c../" MARK "...";
		size_t tl = sizeof(two) - 1;
		memcpy(h->v, two, tl);
		h->v[0] = (unsigned char)((tl - 2) >> 8);
		h->v[1] = (unsigned char)((tl - 2) & 0xff);
		h->len = tl;
		h->raw_list = 1;
	}
	h = &names[nnames++];
	{
		static const char other[] = "\x00\x0c\x05\x00\x09../" MARK;
		h->len = sizeof(other) - 1;
		memcpy(h->v, other, h->len);
		h->raw_list = 1;
	}
}

/* ---- a ClientHello by hand ---- */

struct buf {
	unsigned char d[12000];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, unsigned v)
{
	b->d[b->n++] = (unsigned char)v;
}

static void put16(struct buf *b, unsigned v)
{
	put8(b, v >> 8);
	put8(b, v & 0xff);
}

static void ext(struct buf *b, unsigned type, const void *body, size_t n)
{
	put16(b, type);
	put16(b, (unsigned)n);
	put(b, body, n);
}

/* The ClientHello record(s) for h, offering acme-tls/1 alone or h2,http/1.1. */
static size_t client_hello(const struct hostile *h, int acme, unsigned char *out, size_t cap)
{
	static struct buf body, exts, tmp, rec;
	unsigned char rnd[32], sid[32], pub[32];

	body.n = exts.n = rec.n = 0;
	RAND_bytes(rnd, sizeof(rnd));
	RAND_bytes(sid, sizeof(sid));
	RAND_bytes(pub, sizeof(pub));
	pub[31] &= 0x7f;
	/* server_name */
	tmp.n = 0;
	if (h->raw_list) {
		put(&tmp, h->v, h->len);
	} else {
		put16(&tmp, (unsigned)(h->len + 3));
		put8(&tmp, 0);
		put16(&tmp, (unsigned)h->len);
		put(&tmp, h->v, h->len);
	}
	ext(&exts, 0, tmp.d, tmp.n);
	static const unsigned char groups[] = {0, 4, 0x00, 0x1d, 0x00, 0x17};
	ext(&exts, 10, groups, sizeof(groups));
	static const unsigned char points[] = {1, 0};
	ext(&exts, 11, points, sizeof(points));
	static const unsigned char sigalgs[] = {0, 10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x07};
	ext(&exts, 13, sigalgs, sizeof(sigalgs));
	static const unsigned char h2[] = {0, 12, 2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
	static const unsigned char acme_alpn[] = {0, 11, 10, 'a', 'c', 'm', 'e', '-', 't', 'l', 's', '/', '1'};
	if (acme)
		ext(&exts, 16, acme_alpn, sizeof(acme_alpn));
	else
		ext(&exts, 16, h2, sizeof(h2));
	static const unsigned char versions[] = {4, 0x03, 0x04, 0x03, 0x03};
	ext(&exts, 43, versions, sizeof(versions));
	static const unsigned char psk_modes[] = {1, 1};
	ext(&exts, 45, psk_modes, sizeof(psk_modes));
	tmp.n = 0;
	put16(&tmp, 36);
	put16(&tmp, 0x001d);
	put16(&tmp, 32);
	put(&tmp, pub, 32);
	ext(&exts, 51, tmp.d, tmp.n);

	put16(&body, 0x0303);
	put(&body, rnd, 32);
	put8(&body, 32);
	put(&body, sid, 32);
	static const unsigned char suites[] = {0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f};
	put16(&body, sizeof(suites));
	put(&body, suites, sizeof(suites));
	put8(&body, 1);
	put8(&body, 0);
	put16(&body, (unsigned)exts.n);
	put(&body, exts.d, exts.n);

	/* handshake message, split over records of at most 16384 bytes */
	tmp.n = 0;
	put8(&tmp, 1);
	put8(&tmp, (unsigned)(body.n >> 16));
	put16(&tmp, (unsigned)(body.n & 0xffff));
	put(&tmp, body.d, body.n);
	for (size_t off = 0; off < tmp.n;) {
		size_t chunk = tmp.n - off > 16384 ? 16384 : tmp.n - off;
		put8(&rec, 22);
		put16(&rec, 0x0301);
		put16(&rec, (unsigned)chunk);
		put(&rec, tmp.d + off, chunk);
		off += chunk;
	}
	if (rec.n > cap)
		return 0;
	memcpy(out, rec.d, rec.n);
	return rec.n;
}

enum answer { ANS_SERVER_HELLO, ANS_ALERT, ANS_CLOSED, ANS_TIMEOUT, ANS_CONNECT_FAILED };

/* Sends h's ClientHello and reads the first record back (2 s at most). */
static enum answer raw_hello(int port, const struct hostile *h, int acme)
{
	static unsigned char hello[20000];
	size_t n = client_hello(h, acme, hello, sizeof(hello));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	enum answer a = ANS_CONNECT_FAILED;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || n == 0)
		goto out;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	if (send(fd, hello, n, MSG_NOSIGNAL) != (ssize_t)n) {
		a = ANS_CLOSED;
		goto out;
	}
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	if (poll(&pf, 1, 2000) <= 0) {
		a = ANS_TIMEOUT;
		goto out;
	}
	unsigned char hdr[6];
	ssize_t r = recv(fd, hdr, sizeof(hdr), MSG_WAITALL);
	if (r < 6)
		a = ANS_CLOSED;
	else if (hdr[0] == 22 && hdr[5] == 2)
		a = ANS_SERVER_HELLO;
	else if (hdr[0] == 21)
		a = ANS_ALERT;
	else
		a = ANS_CLOSED;
out:
	if (fd >= 0)
		close(fd);
	return a;
}

/* ---- the store tree ---- */

#define MAX_ENTRIES 256
struct entry {
	char path[400];
	mode_t mode;
	off_t size;
	struct timespec mtime;
	unsigned long long hash;
};
static struct entry *cur_list;
static int cur_n;

static unsigned long long fnv(const char *p, size_t n)
{
	unsigned long long h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	return h;
}

static int list_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if (cur_n >= MAX_ENTRIES)
		return 1;
	struct entry *e = &cur_list[cur_n++];
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->mode = st->st_mode;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	e->hash = 0;
	if (S_ISREG(st->st_mode)) {
		size_t len = 0;
		char *t = harness_read_file(path, &len);
		e->hash = t ? fnv(t, len) : 1;
		free(t);
	}
	return 0;
}

static int list_store(const char *store, struct entry *out)
{
	cur_list = out;
	cur_n = 0;
	if (nftw(store, list_entry, 16, FTW_PHYS) != 0)
		return -1;
	return cur_n;
}

static int same_tree(const struct entry *a, int na, const struct entry *b, int nb)
{
	int same = na == nb;
	for (int i = 0; i < na && i < nb; i++) {
		if (strcmp(a[i].path, b[i].path) != 0 || a[i].mode != b[i].mode || a[i].size != b[i].size ||
		    a[i].mtime.tv_sec != b[i].mtime.tv_sec || a[i].mtime.tv_nsec != b[i].mtime.tv_nsec ||
		    a[i].hash != b[i].hash) {
			fprintf(stderr, "  store changed: %s (%lld bytes, %ld.%09ld) -> %s (%lld bytes, %ld.%09ld)\n",
				a[i].path, (long long)a[i].size, (long)a[i].mtime.tv_sec, a[i].mtime.tv_nsec, b[i].path,
				(long long)b[i].size, (long)b[i].mtime.tv_sec, b[i].mtime.tv_nsec);
			same = 0;
		}
	}
	if (na != nb)
		fprintf(stderr, "  store: %d entries before, %d after\n", na, nb);
	return same;
}

/* 1 when hay[0..n) holds needle[0..m) */
static int has_bytes(const char *hay, size_t n, const unsigned char *needle, size_t m)
{
	if (m == 0 || m > n)
		return 0;
	return memmem(hay, n, needle, m) != NULL;
}

static void hostile_sni(void)
{
	static struct entry before[MAX_ENTRIES], after[MAX_ENTRIES];
	struct shim_env env;
	int counts[5] = {0}, full_ok = 0, full_tried = 0;

	build_names();
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	CHECK(started);
	if (!started)
		goto out;
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		goto out;
	/* Let the manager finish writing after publishing. */
	harness_sleep_ms(2000);
	int orders = pebble_count_orders(&env.p);
	int nb = list_store(env.store, before);
	CHECK_INT(nb, >, 0);
	fprintf(stderr, "  %d hostile values; store has %d entries; %d orders so far\n", nnames, nb, orders);
	size_t log_before = 0;
	free(harness_read_file(env.log, &log_before));

	long t0 = harness_now_ms(), acme_ms = 0, plain_ms = 0;
	for (int i = 0; i < HANDSHAKES; i++) {
		const struct hostile *h = &names[i % nnames];
		int acme = (i / nnames) % 2;
		long t = harness_now_ms();
		counts[raw_hello(env.port, h, acme)]++;
		*(acme ? &acme_ms : &plain_ms) += harness_now_ms() - t;
		/* Every tenth value that OpenSSL's client can send: one complete handshake as well. */
		if (i % 10 == 0 && !h->raw_list && h->len > 0 && h->len <= 255 && memchr(h->v, 0, h->len) == NULL) {
			char s[300];
			struct tls_client_result r;
			memcpy(s, h->v, h->len);
			s[h->len] = '\0';
			full_tried++;
			tls_verify_quiet = 1;
			int saved = dup(2), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
			fflush(stderr);
			dup2(devnull, 2);
			if (tls_client_connect(env.port, s, NULL, 0, NULL, NULL, &r) == 0) {
				full_ok++;
				/* The server's own certificate, never the managed one, for any of these. */
				if (strcmp(r.subject, "/CN=" SERVER_PLACEHOLDER_CN) != 0) {
					dup2(saved, 2);
					fprintf(stderr, "  value %d got subject %s\n", i % nnames, r.subject);
					dup2(devnull, 2);
					CHECK(!"a hostile name was served something but the placeholder");
				}
			}
			fflush(stderr);
			dup2(saved, 2);
			close(saved);
			close(devnull);
			tls_verify_quiet = 0;
		}
	}
	long total = harness_now_ms() - t0;
	fprintf(stderr,
		"  %d raw ClientHellos in %ld ms (acme-tls/1 offers %ld ms, h2 offers %ld ms): %d ServerHello, %d "
		"alert, %d closed, %d timed out, %d connect failed; %d/%d complete handshakes through OpenSSL's "
		"client\n",
		HANDSHAKES, total, acme_ms, plain_ms, counts[ANS_SERVER_HELLO], counts[ANS_ALERT], counts[ANS_CLOSED],
		counts[ANS_TIMEOUT], counts[ANS_CONNECT_FAILED], full_ok, full_tried);
	CHECK_INT(counts[ANS_TIMEOUT], ==, 0);
	CHECK_INT(counts[ANS_CONNECT_FAILED], ==, 0);
	CHECK_INT(counts[ANS_SERVER_HELLO], >, 0);

	/* The server still answers, with the managed certificate for the managed name. */
	CHECK(server_alive(&env.srv));
	CHECK(shim_wait_verified(&env, SHIM_NAME, 5000) >= 0);
	shim_check_untouched(&env, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, env.srv.serial);
	harness_sleep_ms(2000);
	CHECK_INT(pebble_count_orders(&env.p), ==, orders);
	int na = list_store(env.store, after);
	CHECK(same_tree(before, nb, after, na));

	/* The log: none of the raw values, no control bytes, and how many lines mention the marker at all. */
	size_t len = 0;
	char *text = harness_read_file(env.log, &len);
	CHECK(text != NULL);
	if (text != NULL) {
		int raw = 0, ctl = 0, marked = 0;
		for (int i = 0; i < nnames; i++) {
			const struct hostile *h = &names[i];
			if (h->len >= 4 && has_bytes(text, len, h->v, h->len)) {
				if (raw++ < 3)
					fprintf(stderr, "  log holds raw value %d (%zu bytes)\n", i, h->len);
			}
		}
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)text[i];
			ctl += (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f;
		}
		for (const char *p = text; (p = strstr(p, MARK)) != NULL; p++)
			marked++;
		fprintf(stderr, "  shim log: %zu bytes before, %zu after; raw values %d, control bytes %d, mentions of "
				"the marker %d\n",
			log_before, len, raw, ctl, marked);
		CHECK_INT(raw, ==, 0);
		CHECK_INT(ctl, ==, 0);
		CHECK(strstr(text, "FAKE autotls") == NULL);
		free(text);
	}
	shim_check_log(&env);
out:
	shim_env_finish(&env);
}

int main(void)
{
	RUN(hostile_sni);
	return TEST_EXIT();
}
