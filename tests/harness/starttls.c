/*
 * STARTTLS clients (see starttls.h). The handshake and its result are tls_client_handshake_fd's (tlsverify.c);
 * this file owns only the plain-text exchange before it and the first exchange after it. Every read is bounded
 * (a 10 s socket timeout, 1,000 bytes a line, 64 lines a reply), so a server that says nothing cannot hang a test.
 */
#include "tests/harness/proc.h"
#include "tests/harness/starttls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1000
#define REPLY_MAX_LINES 64

/* Prints why a session failed, unless the caller polls quietly (tls_verify_quiet). */
#define say(...)                                     \
	do {                                         \
		if (!tls_verify_quiet)               \
			fprintf(stderr, __VA_ARGS__); \
	} while (0)

static int tcp_open(int port)
{
	int fd = harness_tcp_open(port, 10);
	if (fd < 0)
		say("  starttls: connect failed: %s\n", strerror(errno));
	return fd;
}

/* One line (CRLF or LF ended, the end stripped) from fd, or from ssl when it is set. Reads a byte at a time:
 * nothing past the line may be consumed before the handshake takes the socket over. 0 or -1. */
static int read_line(int fd, SSL *ssl, char *out, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char c;
		int r = ssl != NULL ? SSL_read(ssl, &c, 1) : (int)read(fd, &c, 1);
		if (r < 0 && ssl == NULL && errno == EINTR)
			continue;
		if (r != 1 || n + 1 >= cap)
			return -1;
		if (c == '\n')
			break;
		out[n++] = c;
	}
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return 0;
}

static int send_text(int fd, SSL *ssl, const char *s)
{
	size_t len = strlen(s);
	if (ssl != NULL)
		return SSL_write(ssl, s, (int)len) == (int)len ? 0 : -1;
	return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

/* An SMTP reply (RFC 5321 section 4.2: "ddd-" continues, "ddd " ends) whose code is want; *saw_starttls set
 * when one of its lines is the STARTTLS extension (may be NULL). 0 or -1. */
static int smtp_reply(int fd, SSL *ssl, const char *want, int *saw_starttls)
{
	char line[LINE_MAX_BYTES + 2];
	for (int i = 0; i < REPLY_MAX_LINES; i++) {
		if (read_line(fd, ssl, line, sizeof(line)) != 0) {
			say("  starttls: the server closed or sent a line too long while %s was expected\n", want);
			return -1;
		}
		if (strlen(line) < 4 || strncmp(line, want, 3) != 0) {
			say("  starttls: expected %s, got \"%.200s\"\n", want, line);
			return -1;
		}
		if (saw_starttls != NULL && strcmp(line + 4, "STARTTLS") == 0)
			*saw_starttls = 1;
		if (line[3] == ' ')
			return 0;
		if (line[3] != '-')
			return -1;
	}
	return -1;
}

static int smtp_before(int fd)
{
	int starttls = 0;
	if (smtp_reply(fd, NULL, "220", NULL) != 0 || send_text(fd, NULL, "EHLO client.test\r\n") != 0 ||
	    smtp_reply(fd, NULL, "250", &starttls) != 0)
		return -1;
	if (!starttls) {
		say("  starttls: the EHLO answer offers no STARTTLS\n");
		return -1;
	}
	if (send_text(fd, NULL, "STARTTLS\r\n") != 0 || smtp_reply(fd, NULL, "220", NULL) != 0)
		return -1;
	return 0;
}

static int smtp_after(SSL *ssl)
{
	/* RFC 3207 section 4.2: the client forgets what it knew and says EHLO again. */
	if (send_text(-1, ssl, "EHLO client.test\r\n") != 0 || smtp_reply(-1, ssl, "250", NULL) != 0)
		return -1;
	send_text(-1, ssl, "QUIT\r\n");
	return 0;
}

/* An FTP reply (RFC 959 section 4.2: "ddd-" opens a multi-line reply that ends at a line "ddd ") with code want.
 * 0 or -1. */
static int ftp_reply(int fd, SSL *ssl, const char *want)
{
	char line[LINE_MAX_BYTES + 2];
	int multi = 0;
	for (int i = 0; i < REPLY_MAX_LINES; i++) {
		if (read_line(fd, ssl, line, sizeof(line)) != 0)
			return -1;
		if (!multi && (strlen(line) < 4 || strncmp(line, want, 3) != 0)) {
			say("  starttls: expected %s, got \"%.200s\"\n", want, line);
			return -1;
		}
		if (strncmp(line, want, 3) == 0 && line[3] == ' ')
			return 0;
		multi = 1;
	}
	return -1;
}

static int ftp_before(int fd)
{
	if (ftp_reply(fd, NULL, "220") != 0 || send_text(fd, NULL, "AUTH TLS\r\n") != 0 ||
	    ftp_reply(fd, NULL, "234") != 0)
		return -1;
	return 0;
}

static int ftp_after(SSL *ssl)
{
	if (send_text(-1, ssl, "QUIT\r\n") != 0 || ftp_reply(-1, ssl, "221") != 0)
		return -1;
	return 0;
}

/* Reads IMAP lines until one starts with prefix (untagged lines before it are passed over). 0 or -1. */
static int imap_until(int fd, SSL *ssl, const char *prefix)
{
	char line[LINE_MAX_BYTES + 2];
	for (int i = 0; i < REPLY_MAX_LINES; i++) {
		if (read_line(fd, ssl, line, sizeof(line)) != 0) {
			say("  starttls: no IMAP line starting \"%s\"\n", prefix);
			return -1;
		}
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			return 0;
		if (line[0] != '*') {
			say("  starttls: expected \"%s\", got \"%.200s\"\n", prefix, line);
			return -1;
		}
	}
	return -1;
}

static int imap_before(int fd)
{
	if (imap_until(fd, NULL, "* OK") != 0 || send_text(fd, NULL, "a STARTTLS\r\n") != 0 ||
	    imap_until(fd, NULL, "a OK") != 0)
		return -1;
	return 0;
}

static int imap_after(SSL *ssl, int greeting)
{
	if (greeting && imap_until(-1, ssl, "* OK") != 0)
		return -1;
	if (send_text(-1, ssl, "b LOGOUT\r\n") != 0 || imap_until(-1, ssl, "b OK") != 0)
		return -1;
	return 0;
}

/* MQTT 3.1.1 sections 3.1 and 3.2: CONNECT (protocol "MQTT" level 4, clean session, keep-alive 60 s, client id
 * "test"), CONNACK 0x20 0x02 flags 0 (accepted), then DISCONNECT. 0 or -1. */
static int mqtt_after(SSL *ssl)
{
	static const unsigned char connect_pkt[] = {0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02,
						    0x00, 0x3c, 0x00, 0x04, 't',  'e', 's', 't'};
	static const unsigned char disconnect_pkt[] = {0xe0, 0x00};
	unsigned char ack[4];
	int got = 0;

	if (SSL_write(ssl, connect_pkt, (int)sizeof(connect_pkt)) != (int)sizeof(connect_pkt))
		return -1;
	while (got < 4) {
		int r = SSL_read(ssl, ack + got, 4 - got);
		if (r <= 0) {
			say("  starttls: no CONNACK\n");
			return -1;
		}
		got += r;
	}
	if (ack[0] != 0x20 || ack[1] != 0x02 || ack[3] != 0x00) {
		say("  starttls: CONNACK %02x %02x %02x %02x, not accepted\n", ack[0], ack[1], ack[2], ack[3]);
		return -1;
	}
	SSL_write(ssl, disconnect_pkt, (int)sizeof(disconnect_pkt));
	return 0;
}

int starttls_connect(enum starttls_proto proto, int port, const char *sni, const char *root_file,
		     const char *verify_name, struct tls_client_result *res)
{
	SSL *ssl = NULL;
	int rc = -1;
	int fd = tcp_open(port);

	if (fd < 0)
		return -1;
	switch (proto) {
	case STARTTLS_SMTP:
		rc = smtp_before(fd);
		break;
	case STARTTLS_FTP:
		rc = ftp_before(fd);
		break;
	case STARTTLS_IMAP:
		rc = imap_before(fd);
		break;
	case TLS_MQTT:
	case TLS_IMAPS:
		rc = 0;
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == 0)
		rc = tls_client_handshake_fd(fd, sni, NULL, 0, root_file, verify_name, res, &ssl);
	if (rc == 0) {
		switch (proto) {
		case STARTTLS_SMTP:
			rc = smtp_after(ssl);
			break;
		case STARTTLS_FTP:
			rc = ftp_after(ssl);
			break;
		case STARTTLS_IMAP:
		case TLS_IMAPS:
			rc = imap_after(ssl, proto == TLS_IMAPS);
			break;
		case TLS_MQTT:
			rc = mqtt_after(ssl);
			break;
		default:
			rc = -1;
			break;
		}
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	return rc;
}

int starttls_try(enum starttls_proto proto, int port, const char *sni, const char *root_file,
		 struct tls_client_result *res)
{
	memset(res, 0, sizeof(*res));
	tls_verify_quiet = 1;
	int rc = starttls_connect(proto, port, sni, root_file, NULL, res);
	tls_verify_quiet = 0;
	return rc;
}

long starttls_wait_serial(enum starttls_proto proto, int port, const char *sni, const char *root_file,
			  const char *old_serial, long timeout_ms, long step_ms, struct tls_client_result *res)
{
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < timeout_ms) {
		if (starttls_try(proto, port, sni, root_file, res) == 0 &&
		    (old_serial == NULL || (res->serial[0] != '\0' && strcmp(res->serial, old_serial) != 0)))
			return harness_now_ms() - t0;
		harness_sleep_ms(step_ms);
	}
	return -1;
}

int starttls_count_serial(enum starttls_proto proto, int port, const char *sni, const char *root_file,
			  const char *serial, int n)
{
	struct tls_client_result r;
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += starttls_try(proto, port, sni, root_file, &r) == 0 && strcmp(r.serial, serial) == 0;
	return ok;
}
