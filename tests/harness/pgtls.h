/*
 * Verifying TLS clients for the servers of tests/harness/dbservers.h, the way tls_client_connect
 * (tests/harness/tlsverify.h) is one for web servers:
 *   - PostgreSQL: TCP, then the 8-byte SSLRequest (int32 length 8, int32 80877103, network order), one byte
 *     'S' back, then a TLS handshake on the same socket; optionally a StartupMessage over TLS that must get
 *     AuthenticationOk (the server under test accepts trust authentication), so the session is PostgreSQL's.
 *   - Redis: TLS from the first byte, then PING, which must get +PONG.
 */
#ifndef AUTOTLS_TESTS_HARNESS_PGTLS_H
#define AUTOTLS_TESTS_HARNESS_PGTLS_H

#include "tests/harness/tlsverify.h"

/*
 * Connects to 127.0.0.1:port, asks PostgreSQL for TLS, sends sni (NULL: none), verifies against root_file
 * (NULL: no verification) with a host check on verify_name (NULL: sni). startup: after the handshake, sends a
 * StartupMessage for user and database "postgres" and requires AuthenticationOk. Returns 0 when all of that
 * succeeded; -1 otherwise (the reason printed). res (may be NULL) is filled whenever the handshake completed.
 */
int pg_tls_connect(int port, const char *sni, const char *root_file, const char *verify_name, int startup,
		   struct tls_client_result *res);

/* The same for Redis: a TLS handshake (as above), then PING answered by +PONG. 0 or -1. */
int redis_tls_ping(int port, const char *sni, const char *root_file, const char *verify_name,
		   struct tls_client_result *res);

#endif
