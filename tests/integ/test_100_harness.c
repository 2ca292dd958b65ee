/*
 * The harness itself: two Pebbles at once, their directories and roots, the mock DNS (checked with a hand-made
 * UDP query), the three responders, kill/restart, and that stopping leaves no process or folder behind.
 */
#include "tests/harness/certgen.h"
#include "tests/harness/fetch.h"
#include "tests/harness/pebble.h"
#include "tests/harness/responders.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static struct pebble p1, p2;
static int started;

/* ---- a tiny DNS client (RFC 1035 section 4) ---- */

#define T_A 1
#define T_TXT 16
#define T_AAAA 28

/* Skips a possibly compressed name at msg[*off]; -1 when it runs off the end. */
static int dns_skip_name(const unsigned char *msg, size_t len, size_t *off)
{
	while (*off < len) {
		unsigned c = msg[*off];
		if (c == 0) {
			*off += 1;
			return 0;
		}
		if ((c & 0xC0) == 0xC0) {
			if (*off + 2 > len)
				return -1;
			*off += 2;
			return 0;
		}
		if (c > 63 || *off + 1 + c > len)
			return -1;
		*off += 1 + c;
	}
	return -1;
}

/*
 * Asks 127.0.0.1:port for (name, qtype) over UDP. Returns how many answers of that type came back (-1 on error);
 * the first TXT string goes to txt (NUL-terminated) and the first A address to *a.
 */
static int dns_query(int port, const char *name, int qtype, char *txt, size_t txt_cap, struct in_addr *a)
{
	unsigned char q[512], r[1500];
	size_t qlen = 12, off;
	struct sockaddr_in sa;
	struct timeval tv = {2, 0};
	int fd, found = 0;
	unsigned id = (unsigned)getpid() & 0xFFFF;

	memset(q, 0, sizeof(q));
	q[0] = (unsigned char)(id >> 8);
	q[1] = (unsigned char)id;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	for (const char *l = name; *l;) {
		const char *dot = strchr(l, '.');
		size_t n = dot ? (size_t)(dot - l) : strlen(l);
		if (n == 0 || n > 63 || qlen + 1 + n + 5 > sizeof(q))
			return -1;
		q[qlen++] = (unsigned char)n;
		memcpy(q + qlen, l, n);
		qlen += n;
		l += n + (dot ? 1 : 0);
	}
	q[qlen++] = 0;
	q[qlen++] = 0;
	q[qlen++] = (unsigned char)qtype;
	q[qlen++] = 0;
	q[qlen++] = 1; /* IN */

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ssize_t n = -1;
	if (sendto(fd, q, qlen, 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)qlen)
		n = recv(fd, r, sizeof(r), 0);
	close(fd);
	if (n < 12 || r[0] != q[0] || r[1] != q[1] || !(r[2] & 0x80))
		return -1;
	size_t len = (size_t)n;
	unsigned qd = (unsigned)(r[4] << 8 | r[5]), an = (unsigned)(r[6] << 8 | r[7]);
	off = 12;
	for (unsigned i = 0; i < qd; i++)
		if (dns_skip_name(r, len, &off) != 0 || (off += 4) > len)
			return -1;
	for (unsigned i = 0; i < an; i++) {
		if (dns_skip_name(r, len, &off) != 0 || off + 10 > len)
			return -1;
		unsigned type = (unsigned)(r[off] << 8 | r[off + 1]);
		size_t rdlen = (size_t)(r[off + 8] << 8 | r[off + 9]);
		off += 10;
		if (off + rdlen > len)
			return -1;
		if ((int)type == qtype) {
			if (found == 0 && type == T_TXT && txt != NULL && rdlen >= 1 && r[off] + 1u <= rdlen &&
			    r[off] < txt_cap) {
				memcpy(txt, r + off + 1, r[off]);
				txt[r[off]] = '\0';
			}
			if (found == 0 && type == T_A && a != NULL && rdlen == 4)
				memcpy(a, r + off, 4);
			found++;
		}
		off += rdlen;
	}
	return found;
}

/* ---- helpers ---- */

static int file_has_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = NULL;
	if (f == NULL)
		return 0;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	X509_free(x);
	return x != NULL;
}

static int directory_has_new_order(const struct pebble *p)
{
	char *body = NULL;
	long status = 0;
	int ok = 0;

	if (harness_fetch(&status, &body, NULL, "GET", p->directory_url, p->api_root_file, NULL, 5000) != 0)
		return 0;
	cJSON *dir = cJSON_Parse(body);
	cJSON *no = cJSON_GetObjectItemCaseSensitive(dir, "newOrder");
	ok = status == 200 && cJSON_IsString(no) && strncmp(no->valuestring, "https://127.0.0.1:", 18) == 0;
	cJSON_Delete(dir);
	free(body);
	return ok;
}

/* A TLS handshake with 127.0.0.1:port. alpn NULL: none offered. Returns 1 when it completed; then *peer (new)
 * and the selected protocol (into proto). */
static int tls_connect(int port, const char *sni, const char *alpn, X509 **peer, char *proto, size_t proto_cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	int fd = -1, ok = 0;

	if (ctx == NULL)
		goto out;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* the test compares the certificate itself */
	if (alpn != NULL) {
		unsigned char wire[64];
		size_t n = strlen(alpn);
		wire[0] = (unsigned char)n;
		memcpy(wire + 1, alpn, n);
		if (SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)(n + 1)) != 0)
			goto out;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssl = SSL_new(ctx);
	if (ssl == NULL || !SSL_set_fd(ssl, fd) || (sni != NULL && !SSL_set_tlsext_host_name(ssl, sni)))
		goto out;
	if (SSL_connect(ssl) != 1)
		goto out;
	const unsigned char *sel = NULL;
	unsigned sel_len = 0;
	SSL_get0_alpn_selected(ssl, &sel, &sel_len);
	if (proto != NULL && sel_len < proto_cap) {
		memcpy(proto, sel ? (const char *)sel : "", sel_len);
		proto[sel_len] = '\0';
	}
	if (peer != NULL)
		*peer = SSL_get1_peer_certificate(ssl);
	ok = 1;
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	return ok;
}

/* The server counts a TLS handshake once its SSL_accept returns, which can be just after the client's
 * SSL_connect did: wait up to 2 s for the count to reach n. */
static int answered_soon(const struct responder *r, int n)
{
	for (int i = 0; i < 400 && responder_answered(r) < n; i++)
		usleep(5000);
	return responder_answered(r);
}

/* ---- tests ---- */

static void test_two_pebbles_start(void)
{
	REQUIRE(pebble_start(&p1, NULL) == 0);
	REQUIRE(pebble_start(&p2, NULL) == 0);
	started = 1;
	CHECK(p1.pebble_pid > 0 && p1.chall_pid > 0 && p2.pebble_pid > 0 && p2.chall_pid > 0);
	CHECK(strcmp(p1.workdir, p2.workdir) != 0);
	CHECK(strcmp(p1.directory_url, p2.directory_url) != 0);
	CHECK(p1.dns_port != p2.dns_port);
	CHECK(p1.http_port > 0 && p1.tls_port > 0 && p1.http_port != p1.tls_port);
}

static void test_directories_answer(void)
{
	REQUIRE(started);
	CHECK(directory_has_new_order(&p1));
	CHECK(directory_has_new_order(&p2));
}

static void test_roots_and_intermediates(void)
{
	REQUIRE(started);
	CHECK(file_has_cert(p1.api_root_file));
	CHECK(file_has_cert(p1.issuing_root_file));
	CHECK(file_has_cert(p1.intermediate_file));
	CHECK(file_has_cert(p2.issuing_root_file));
	CHECK(file_has_cert(p2.intermediate_file));
	/* Each Pebble makes its own CA. */
	char *a = harness_read_file(p1.issuing_root_file, NULL), *b = harness_read_file(p2.issuing_root_file, NULL);
	CHECK(a != NULL && b != NULL && strcmp(a, b) != 0);
	free(a);
	free(b);
}

static void test_no_orders_yet(void)
{
	REQUIRE(started);
	CHECK_INT(pebble_count_orders(&p1), ==, 0);
}

static void test_mock_dns(void)
{
	char txt[256] = "";
	struct in_addr a = {0};

	REQUIRE(started);
	CHECK_INT(dns_query(p1.dns_port, "_acme-challenge.x.test", T_TXT, txt, sizeof(txt), NULL), ==, 0);
	CHECK_OK(pebble_set_txt(&p1, "_acme-challenge.x.test", "value-one"));
	CHECK_INT(dns_query(p1.dns_port, "_acme-challenge.x.test", T_TXT, txt, sizeof(txt), NULL), ==, 1);
	CHECK_STR(txt, "value-one");
	/* The other harness's DNS is its own. */
	CHECK_INT(dns_query(p2.dns_port, "_acme-challenge.x.test", T_TXT, txt, sizeof(txt), NULL), ==, 0);
	CHECK_OK(pebble_clear_txt(&p1, "_acme-challenge.x.test."));
	CHECK_INT(dns_query(p1.dns_port, "_acme-challenge.x.test", T_TXT, txt, sizeof(txt), NULL), ==, 0);
	/* Every name is 127.0.0.1, and nothing answers AAAA. */
	CHECK_INT(dns_query(p1.dns_port, "any.test", T_A, NULL, 0, &a), ==, 1);
	CHECK(a.s_addr == htonl(INADDR_LOOPBACK));
	CHECK_INT(dns_query(p1.dns_port, "any.test", T_AAAA, NULL, 0, NULL), ==, 0);
}

static void test_tls_alpn_responder(void)
{
	struct responder *r = NULL;
	struct at_solver s;
	X509 *cert = NULL, *other = NULL, *peer = NULL;
	EVP_PKEY *key = NULL, *other_key = NULL;
	char proto[32] = "";
	int port = harness_free_port();

	REQUIRE(port > 0);
	REQUIRE(harness_cert_make(&cert, &key, "alpn.test", "alpn.test", NULL, 0, NULL, NULL, 1) == 0);
	REQUIRE(harness_cert_make(&other, &other_key, "other.test", "other.test", NULL, 0, NULL, NULL, 1) == 0);
	REQUIRE(responder_tls_alpn_start(&r, &s, port) == 0);
	CHECK(s.type == AT_CHALLENGE_TLS_ALPN_01);

	struct at_challenge ch = {.type = AT_CHALLENGE_TLS_ALPN_01, .identifier_type = "dns",
				  .identifier = "alpn.test", .alpn_cert = cert, .alpn_key = key,
				  .alpn_sni = "alpn.test"};
	struct at_challenge ch2 = ch;
	ch2.identifier = ch2.alpn_sni = "other.test";
	ch2.alpn_cert = other;
	ch2.alpn_key = other_key;
	CHECK_OK(s.present(s.ctx, &ch));
	CHECK_OK(s.present(s.ctx, &ch2));
	/* The responder holds its own references: ours can go. */
	X509_free(other);
	EVP_PKEY_free(other_key);
	CHECK_INT(responder_presented(r), ==, 2);

	CHECK(tls_connect(port, "alpn.test", "acme-tls/1", &peer, proto, sizeof(proto)));
	CHECK_STR(proto, "acme-tls/1");
	CHECK(peer != NULL && X509_cmp(peer, cert) == 0);
	X509_free(peer);
	peer = NULL;
	CHECK(tls_connect(port, "ALPN.test", "acme-tls/1", &peer, proto, sizeof(proto))); /* names are caseless */
	CHECK(peer != NULL && X509_cmp(peer, cert) == 0);
	X509_free(peer);
	peer = NULL;
	CHECK(tls_connect(port, "other.test", "acme-tls/1", &peer, proto, sizeof(proto)));
	CHECK(peer != NULL && X509_cmp(peer, cert) != 0);
	X509_free(peer);
	peer = NULL;
	CHECK_INT(answered_soon(r, 3), ==, 3);

	/* Refused: no ALPN, another protocol, an unknown name, no SNI, a prefix of acme-tls/1. */
	CHECK(!tls_connect(port, "alpn.test", NULL, NULL, NULL, 0));
	CHECK(!tls_connect(port, "alpn.test", "h2", NULL, NULL, 0));
	CHECK(!tls_connect(port, "unknown.test", "acme-tls/1", NULL, NULL, 0));
	CHECK(!tls_connect(port, NULL, "acme-tls/1", NULL, NULL, 0));
	CHECK(!tls_connect(port, "alpn.test", "acme-tls/", NULL, NULL, 0));

	/* Withdrawn: refused too. */
	s.cleanup(s.ctx, &ch);
	CHECK(!tls_connect(port, "alpn.test", "acme-tls/1", NULL, NULL, 0));
	CHECK_INT(answered_soon(r, 4), ==, 3);
	responder_stop(r);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static void test_http_responder(void)
{
	struct responder *r = NULL;
	struct at_solver s;
	char url[256], *body = NULL;
	long status = 0;
	int port = harness_free_port();

	REQUIRE(port > 0);
	REQUIRE(responder_http_start(&r, &s, port) == 0);
	CHECK(s.type == AT_CHALLENGE_HTTP_01);
	struct at_challenge ch = {.type = AT_CHALLENGE_HTTP_01, .identifier_type = "dns", .identifier = "h.test",
				  .token = "tok-A_1", .key_authorization = "tok-A_1.thumbprint"};
	CHECK_OK(s.present(s.ctx, &ch));
	CHECK_INT(responder_presented(r), ==, 1);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/.well-known/acme-challenge/tok-A_1", port);
	CHECK_OK(harness_fetch(&status, &body, NULL, "GET", url, NULL, NULL, 5000));
	CHECK_INT(status, ==, 200);
	CHECK_STR(body, "tok-A_1.thumbprint");
	free(body);
	body = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/.well-known/acme-challenge/other", port);
	CHECK_OK(harness_fetch(&status, &body, NULL, "GET", url, NULL, NULL, 5000));
	CHECK_INT(status, ==, 404);
	free(body);
	body = NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/tok-A_1", port);
	CHECK_OK(harness_fetch(&status, NULL, NULL, "GET", url, NULL, NULL, 5000));
	CHECK_INT(status, ==, 404);
	CHECK_INT(responder_answered(r), ==, 1);

	s.cleanup(s.ctx, &ch);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/.well-known/acme-challenge/tok-A_1", port);
	CHECK_OK(harness_fetch(&status, NULL, NULL, "GET", url, NULL, NULL, 5000));
	CHECK_INT(status, ==, 404);
	CHECK_INT(responder_answered(r), ==, 1);
	responder_stop(r);
}

static void test_dns_responder(void)
{
	struct responder *r = NULL;
	struct at_solver s;
	char txt[128] = "";

	REQUIRE(started);
	REQUIRE(responder_dns_start(&r, &s, &p1) == 0);
	CHECK(s.type == AT_CHALLENGE_DNS_01);
	struct at_challenge ch = {.type = AT_CHALLENGE_DNS_01, .identifier_type = "dns", .identifier = "d.test",
				  .dns_txt_name = "_acme-challenge.d.test", .dns_txt_value = "abcDEF-_123"};
	CHECK_OK(s.present(s.ctx, &ch));
	CHECK_INT(responder_presented(r), ==, 1);
	CHECK_INT(dns_query(p1.dns_port, "_acme-challenge.d.test", T_TXT, txt, sizeof(txt), NULL), ==, 1);
	CHECK_STR(txt, "abcDEF-_123");
	s.cleanup(s.ctx, &ch);
	CHECK_INT(dns_query(p1.dns_port, "_acme-challenge.d.test", T_TXT, txt, sizeof(txt), NULL), ==, 0);
	CHECK_INT(responder_answered(r), ==, 1);
	responder_stop(r);
}

static void test_kill_and_restart(void)
{
	char *root_before;

	REQUIRE(started);
	pid_t old = p2.pebble_pid;
	root_before = harness_read_file(p2.issuing_root_file, NULL);
	CHECK_OK(pebble_kill(&p2));
	CHECK(kill(old, 0) == -1 && errno == ESRCH);
	CHECK(!directory_has_new_order(&p2));
	CHECK_OK(pebble_restart(&p2));
	CHECK(p2.pebble_pid > 0 && p2.pebble_pid != old);
	CHECK(directory_has_new_order(&p2));
	char *root_after = harness_read_file(p2.issuing_root_file, NULL);
	CHECK(root_before != NULL && root_after != NULL && strcmp(root_before, root_after) != 0);
	CHECK(file_has_cert(p2.issuing_root_file));
	free(root_before);
	free(root_after);
}

static void test_stop_cleans_up(void)
{
	struct stat st;

	REQUIRE(started);
	pid_t pids[4] = {p1.pebble_pid, p1.chall_pid, p2.pebble_pid, p2.chall_pid};
	char dir1[PATH_MAX], dir2[PATH_MAX];
	snprintf(dir1, sizeof(dir1), "%s", p1.workdir);
	snprintf(dir2, sizeof(dir2), "%s", p2.workdir);
	pebble_stop(&p1);
	pebble_stop(&p2);
	pebble_stop(&p2); /* twice is fine */
	for (int i = 0; i < 4; i++)
		CHECK(kill(pids[i], 0) == -1 && errno == ESRCH);
	CHECK(stat(dir1, &st) == -1 && errno == ENOENT);
	CHECK(stat(dir2, &st) == -1 && errno == ENOENT);
	started = 0;
}

int main(void)
{
	RUN(test_two_pebbles_start);
	RUN(test_directories_answer);
	RUN(test_roots_and_intermediates);
	RUN(test_no_orders_yet);
	RUN(test_mock_dns);
	RUN(test_tls_alpn_responder);
	RUN(test_http_responder);
	RUN(test_dns_responder);
	RUN(test_kill_and_restart);
	RUN(test_stop_cleans_up);
	return TEST_EXIT();
}
