/*
 * TLS clients for PostgreSQL and Redis (see pgtls.h). The handshake and the result mirror tls_client_connect in
 * tlsverify.c; what differs is what happens on the socket before (PostgreSQL's SSLRequest) and after (a first
 * exchange in the server's own protocol).
 */
#include "tests/harness/pgtls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PG_SSL_REQUEST_CODE 80877103u
#define PG_PROTOCOL_3_0 196608u

static int is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int set_verify_name(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -1;
	return X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1 ? 0 : -1;
}

static void print_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	fprintf(stderr, "  dbtls: %s\n", what);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "    %s\n", buf);
	}
}

/* A TCP connection to 127.0.0.1:port with 10 s timeouts, or -1. */
static int tcp_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	struct timeval tv = {.tv_sec = 10};

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "  dbtls: connect to 127.0.0.1:%d failed: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Sends PostgreSQL's SSLRequest and reads its one-byte answer: 0 for 'S', -1 otherwise. */
static int pg_ssl_request(int fd)
{
	unsigned char req[8];
	uint32_t len = htonl(8), code = htonl(PG_SSL_REQUEST_CODE);
	unsigned char answer = 0;
	ssize_t r;

	memcpy(req, &len, 4);
	memcpy(req + 4, &code, 4);
	if (write_all(fd, req, sizeof(req)) != 0) {
		fprintf(stderr, "  dbtls: cannot send the SSLRequest\n");
		return -1;
	}
	do
		r = read(fd, &answer, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1 || answer != 'S') {
		fprintf(stderr, "  dbtls: SSLRequest answered %s%c\n", r == 1 ? "" : "nothing", r == 1 ? answer : ' ');
		return -1;
	}
	return 0;
}

/* Reads exactly len bytes from ssl. 0 or -1. */
static int ssl_read_all(SSL *ssl, void *buf, size_t len)
{
	unsigned char *p = buf;
	while (len > 0) {
		int r = SSL_read(ssl, p, len > 65536 ? 65536 : (int)len);
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* StartupMessage (protocol 3.0, user and database postgres), then the first message back must be
 * AuthenticationOk ('R', length 8, code 0). 0 or -1. */
static int pg_startup(SSL *ssl)
{
	static const char params[] = "user\0postgres\0database\0postgres\0";
	unsigned char msg[8 + sizeof(params)];
	uint32_t len = htonl((uint32_t)sizeof(msg)), proto = htonl(PG_PROTOCOL_3_0), n, code;
	unsigned char hdr[5];

	memcpy(msg, &len, 4);
	memcpy(msg + 4, &proto, 4);
	memcpy(msg + 8, params, sizeof(params)); /* ends in the terminating NUL the message needs */
	if (SSL_write(ssl, msg, (int)sizeof(msg)) != (int)sizeof(msg)) {
		print_errors("cannot send the StartupMessage");
		return -1;
	}
	if (ssl_read_all(ssl, hdr, sizeof(hdr)) != 0) {
		print_errors("no answer to the StartupMessage");
		return -1;
	}
	memcpy(&n, hdr + 1, 4);
	n = ntohl(n);
	if (hdr[0] != 'R' || n != 8 || ssl_read_all(ssl, &code, 4) != 0 || ntohl(code) != 0) {
		fprintf(stderr, "  dbtls: StartupMessage answered '%c' (length %u), not AuthenticationOk\n", hdr[0],
			(unsigned)n);
		return -1;
	}
	/* Terminate: 'X', length 4. */
	SSL_write(ssl, "X\0\0\0\4", 5);
	return 0;
}

/* PING, and +PONG back. 0 or -1. */
static int redis_ping(SSL *ssl)
{
	char buf[8] = "";

	if (SSL_write(ssl, "PING\r\n", 6) != 6 || ssl_read_all(ssl, buf, 7) != 0) {
		print_errors("PING got no answer");
		return -1;
	}
	if (memcmp(buf, "+PONG\r\n", 7) != 0) {
		fprintf(stderr, "  dbtls: PING answered %.7s\n", buf);
		return -1;
	}
	return 0;
}

enum proto { PROTO_PG, PROTO_PG_STARTUP, PROTO_REDIS };

static int db_tls_connect(enum proto proto, int port, const char *sni, const char *root_file,
			  const char *verify_name, struct tls_client_result *res)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int fd = -1, rc = -1;

	if (ctx == NULL)
		return -1;
	if (root_file) {
		if (SSL_CTX_load_verify_locations(ctx, root_file, NULL) != 1) {
			print_errors("cannot load the root");
			goto out;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	fd = tcp_open(port);
	if (fd < 0)
		goto out;
	if (proto != PROTO_REDIS && pg_ssl_request(fd) != 0)
		goto out;
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto out;
	if (sni)
		SSL_set_tlsext_host_name(ssl, sni);
	const char *vn = verify_name ? verify_name : sni;
	if (root_file && vn && set_verify_name(ssl, vn) != 0)
		goto out;
	SSL_set_fd(ssl, fd);
	int r = SSL_connect(ssl);
	long vr = SSL_get_verify_result(ssl);
	if (r == 1 && res) {
		memset(res, 0, sizeof(*res));
		X509 *peer = SSL_get1_peer_certificate(ssl);
		if (peer) {
			X509_NAME_oneline(X509_get_subject_name(peer), res->subject, sizeof(res->subject));
			X509_NAME_oneline(X509_get_issuer_name(peer), res->issuer, sizeof(res->issuer));
			BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			if (hex)
				snprintf(res->serial, sizeof(res->serial), "%s", hex);
			OPENSSL_free(hex);
			BN_free(bn);
			X509_free(peer);
		}
		snprintf(res->version, sizeof(res->version), "%s", SSL_get_version(ssl));
		res->verify_result = vr;
	}
	if (r != 1) {
		print_errors("client handshake failed");
		goto out;
	}
	if (root_file != NULL && vr != X509_V_OK) {
		fprintf(stderr, "  dbtls: verify failed: %s\n", X509_verify_cert_error_string(vr));
		goto out;
	}
	if (proto == PROTO_PG_STARTUP && pg_startup(ssl) != 0)
		goto out;
	if (proto == PROTO_REDIS && redis_ping(ssl) != 0)
		goto out;
	rc = 0;
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	if (fd >= 0)
		close(fd);
	SSL_CTX_free(ctx);
	return rc;
}

int pg_tls_connect(int port, const char *sni, const char *root_file, const char *verify_name, int startup,
		   struct tls_client_result *res)
{
	return db_tls_connect(startup ? PROTO_PG_STARTUP : PROTO_PG, port, sni, root_file, verify_name, res);
}

int redis_tls_ping(int port, const char *sni, const char *root_file, const char *verify_name,
		   struct tls_client_result *res)
{
	return db_tls_connect(PROTO_REDIS, port, sni, root_file, verify_name, res);
}
