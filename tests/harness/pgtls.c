/*
 * TLS clients for PostgreSQL and Redis (see pgtls.h). The handshake and the result are tls_client_connect's
 * (tls_client_handshake_fd in tlsverify.c); what differs is what happens on the socket before (PostgreSQL's
 * SSLRequest) and after (a first exchange in the server's own protocol).
 */
#include "tests/harness/pgtls.h"
#include "tests/harness/proc.h"

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
	int fd = harness_tcp_open(port, 10);
	if (fd < 0)
		fprintf(stderr, "  dbtls: connect to 127.0.0.1:%d failed: %s\n", port, strerror(errno));
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
	SSL *ssl = NULL;
	int fd, rc = -1;

	fd = tcp_open(port);
	if (fd < 0)
		return -1;
	if (proto != PROTO_REDIS && pg_ssl_request(fd) != 0)
		goto out;
	if (tls_client_handshake_fd(fd, sni, NULL, 0, root_file, verify_name, res, &ssl) != 0)
		goto out;
	if (proto == PROTO_PG_STARTUP && pg_startup(ssl) != 0)
		goto out;
	if (proto == PROTO_REDIS && redis_ping(ssl) != 0)
		goto out;
	rc = 0;
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
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
