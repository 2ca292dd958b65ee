/*
 * What a user cares about, as a test: a TLS client that trusts only the CA's root completes a verified
 * handshake for a name. tls_verify_pair does it in memory (a server with the chain and key, a client over a
 * BIO pair); tls_client_connect does it over TCP against a running server.
 */
#ifndef AUTOTLS_TESTS_HARNESS_TLSVERIFY_H
#define AUTOTLS_TESTS_HARNESS_TLSVERIFY_H

#include <openssl/ssl.h>
#include <stddef.h>

/* 0 when a client trusting only root_file verifies the server's chain and name (DNS name or IP literal);
 * -1 otherwise, with the reason printed. */
int tls_verify_pair(const char *chain_pem, size_t chain_len, const char *key_pem, size_t key_len,
		    const char *root_file, const char *name);

/* Set to 1 around a handshake that is expected to fail, to keep the test output readable. */
extern int tls_verify_quiet;
/* Why the last failed client handshake of this process failed (connect, handshake or verification). */
extern char tls_client_last_error[256];

struct tls_client_result {
	char subject[256];
	char issuer[256];
	char alpn[32];       /* negotiated ALPN, "" when none */
	char version[16];    /* "TLSv1.2", "TLSv1.3" */
	long verify_result;  /* X509_V_OK when verified */
	char serial[80];
	long long not_after;  /* the peer certificate's notAfter, Unix seconds */
	int acme_identifier;  /* the peer certificate carries the critical id-pe-acmeIdentifier (RFC 8737) */
};

/*
 * Connects to 127.0.0.1:port, sends sni (NULL: none), offers alpn (comma list, NULL: none), limits the
 * version (0, or TLS1_2_VERSION / TLS1_3_VERSION for exactly that one), and verifies against root_file (NULL:
 * no verification) with host check on verify_name (NULL: sni). Returns 0 when the handshake completed and,
 * with a root, verified; -1 otherwise. res (may be NULL) is filled whenever the handshake completed.
 */
int tls_client_connect(int port, const char *sni, const char *alpn, int version, const char *root_file,
		       const char *verify_name, struct tls_client_result *res);

/*
 * The handshake half of tls_client_connect, on fd: a socket already connected (and past whatever the protocol
 * sends before TLS, e.g. PostgreSQL's SSLRequest). sni, alpn, version, root_file, verify_name and res as there.
 * 0 when the handshake completed and, with a root, verified; -1 otherwise (the reason printed). With ssl_out
 * NULL the session is shut down and freed; otherwise, on 0, *ssl_out is the session on fd for the caller to go
 * on with (SSL_shutdown, SSL_free). fd stays the caller's to close.
 */
int tls_client_handshake_fd(int fd, const char *sni, const char *alpn, int version, const char *root_file,
			    const char *verify_name, struct tls_client_result *res, SSL **ssl_out);

#endif
