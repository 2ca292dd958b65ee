/*
 * Verifying TLS clients for the servers that speak their own protocol before TLS (tests/integ/test_39x), the way
 * pg_tls_connect (pgtls.h) is one for PostgreSQL:
 *   - SMTP (RFC 3207): the 220 greeting, EHLO (the answer must list STARTTLS), STARTTLS answered 220, the
 *     handshake, then EHLO again over TLS, which must be answered 250 (so the session is the server's), QUIT.
 * Replies are read line by line, each capped at 1,000 bytes (RFC 5321 section 4.5.3.1.5 allows 512).
 */
#ifndef AUTOTLS_TESTS_HARNESS_STARTTLS_H
#define AUTOTLS_TESTS_HARNESS_STARTTLS_H

#include "tests/harness/tlsverify.h"

enum starttls_proto {
	STARTTLS_SMTP,
	STARTTLS_FTP,
	STARTTLS_IMAP,
	TLS_IMAPS, /* TLS from the first byte, then the IMAP greeting and LOGOUT */
	TLS_MQTT, /* not STARTTLS: TLS from the first byte, then MQTT 3.1.1 CONNECT answered by CONNACK accepted */
};

/*
 * Connects to 127.0.0.1:port, asks for TLS the protocol's way, sends sni (NULL: none), verifies against root_file
 * (NULL: no verification) with a host check on verify_name (NULL: sni), and makes the protocol's first exchange
 * over TLS. 0 when all of that succeeded; -1 otherwise (the reason printed unless tls_verify_quiet). res (may
 * be NULL) is filled whenever the handshake completed.
 */
int starttls_connect(enum starttls_proto proto, int port, const char *sni, const char *root_file,
		     const char *verify_name, struct tls_client_result *res);

/* starttls_connect quietly (a poll makes many failed tries), res cleared first. */
int starttls_try(enum starttls_proto proto, int port, const char *sni, const char *root_file,
		 struct tls_client_result *res);
/* Polls starttls_try every step_ms until a session verifies and, when old_serial is not NULL, shows another
 * serial (a renewal reached the server): the milliseconds into the wait, or -1 after timeout_ms. res holds the
 * last session. */
long starttls_wait_serial(enum starttls_proto proto, int port, const char *sni, const char *root_file,
			  const char *old_serial, long timeout_ms, long step_ms, struct tls_client_result *res);
/* How many of n sessions in a row verify and show serial. */
int starttls_count_serial(enum starttls_proto proto, int port, const char *sni, const char *root_file,
			  const char *serial, int n);

#endif
