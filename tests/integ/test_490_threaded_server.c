/*
 * The threaded parts together: this test is itself a multi-threaded TLS server under the shim (it re-executes
 * itself with LD_PRELOAD and the AUTOTLS_* settings, so the preload sees its contexts exactly as it sees a
 * server's). An accept thread answers on Pebble's tlsPort (TLS-ALPN-01 included), while four client threads
 * loop full handshakes against it; the manager obtains and renews 30-second certificates meanwhile. No
 * handshake may fail once the first certificate is served. CI runs it built with SANITIZE=thread too, which
 * makes it the TSan check of the handshake path against the manager's publishing.
 */
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#define NAME "t.example.test"
#define CLIENTS 4
#define RUN_SECONDS 40	      /* from the first verified handshake: 30-second certificates renew in it */
#define FIRST_CERT_SECONDS 180 /* the first issuance, slow under TSan on a loaded machine */
#define HANDSHAKE_TIMEOUT_S 10

static SSL_CTX *server_ctx;
static int listen_fd, port;
static atomic_int stop_clients, stop_accepting;
static atomic_long ok_count, fail_after_first, serials_seen;
static char root_file[PATH_MAX];

static void *accept_loop(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_accepting)) {
		int c = accept(listen_fd, NULL, NULL);
		if (c < 0)
			continue;
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		SSL *s = SSL_new(server_ctx);
		SSL_set_fd(s, c);
		if (SSL_accept(s) == 1)
			SSL_shutdown(s);
		SSL_free(s);
		close(c);
		ERR_clear_error();
	}
	return NULL;
}

static int handshake(SSL_CTX *cctx, char *serial, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* Bounded, so that a client whose connection waits in the backlog when the accept threads stop ends. */
	struct timeval tv = { .tv_sec = HANDSHAKE_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		SSL *ssl = SSL_new(cctx);
		SSL_set_tlsext_host_name(ssl, NAME);
		SSL_set1_host(ssl, NAME);
		SSL_set_fd(ssl, fd);
		if (SSL_connect(ssl) == 1 && SSL_get_verify_result(ssl) == X509_V_OK) {
			X509 *peer = SSL_get1_peer_certificate(ssl);
			BIGNUM *bn = peer ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL) : NULL;
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			if (hex)
				snprintf(serial, size, "%s", hex);
			OPENSSL_free(hex);
			BN_free(bn);
			X509_free(peer);
			ok = 1;
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
	}
	close(fd);
	ERR_clear_error();
	return ok;
}

static void *client_loop(void *arg)
{
	(void)arg;
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_load_verify_locations(cctx, root_file, NULL);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	char last[80] = "", serial[80];
	int served = 0;
	while (!atomic_load(&stop_clients)) {
		serial[0] = '\0';
		if (handshake(cctx, serial, sizeof(serial))) {
			served = 1;
			atomic_fetch_add(&ok_count, 1);
			if (strcmp(serial, last) != 0) {
				snprintf(last, sizeof(last), "%s", serial);
				atomic_fetch_add(&serials_seen, 1);
			}
		} else if (served) {
			atomic_fetch_add(&fail_after_first, 1);
		}
		usleep(5000);
	}
	SSL_CTX_free(cctx);
	return NULL;
}

/* A placeholder for the server context, as every real server has one. */
static int placeholder(SSL_CTX *ctx)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"placeholder.test",
				   -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	X509_sign(x, k, EVP_sha256());
	int ok = SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1;
	X509_free(x);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

static void handshakes_during_issuance_and_renewal(void)
{
	REQUIRE(getenv("AUTOTLS_DOMAINS") != NULL);
	port = atoi(getenv("T490_PORT"));
	snprintf(root_file, sizeof(root_file), "%s", getenv("T490_ROOT"));
	server_ctx = SSL_CTX_new(TLS_server_method());
	REQUIRE(server_ctx != NULL && placeholder(server_ctx) == 0);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(listen_fd, 128) == 0);
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_t acc[2], cl[CLIENTS];
	for (int i = 0; i < 2; i++)
		pthread_create(&acc[i], NULL, accept_loop, NULL);
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&cl[i], NULL, client_loop, NULL);
	/* The window for renewals starts at the first certificate served, however long the first issuance took. */
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int waited = 0;
	while (atomic_load(&ok_count) == 0 && waited < FIRST_CERT_SECONDS * 10) {
		usleep(100 * 1000);
		waited++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int first_ok = atomic_load(&ok_count) > 0;
	printf("  first verified handshake after %.1f s\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (first_ok)
		sleep(RUN_SECONDS);
	/* Clients first: the accept threads serve them until every client has stopped. */
	atomic_store(&stop_clients, 1);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(cl[i], NULL);
	atomic_store(&stop_accepting, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(acc[i], NULL);
	printf("  %ld verified handshakes, %ld failed after the first, %ld serial changes seen by the clients\n",
	       atomic_load(&ok_count), atomic_load(&fail_after_first), atomic_load(&serials_seen));
	CHECK(first_ok);
	CHECK(atomic_load(&ok_count) > 100);
	CHECK_INT(atomic_load(&fail_after_first), ==, 0);
	/* 40 s of 30-second certificates renewed at half-life: each client sees at least the first and one more. */
	CHECK_INT(atomic_load(&serials_seen), >=, 2 * CLIENTS);
	close(listen_fd);
	SSL_CTX_free(server_ctx);
}

int main(int argc, char **argv)
{
	(void)argc;
	if (getenv("AUTOTLS_DOMAINS") == NULL) {
		/* The parent: Pebble, then this program again under the shim. */
		struct pebble p;
		struct pebble_opts o = { .validity_s = 30 };
		o.tls_port = harness_free_port();
		if (pebble_start(&p, &o) != 0) {
			printf("FAIL %s:setup\n", __FILE__);
			return 1;
		}
		char lib[PATH_MAX], store[PATH_MAX + 8], v[PATH_MAX + 64];
		int rc = 1;
		if (harness_shim_lib_path(lib, sizeof(lib)) == 0) {
			snprintf(store, sizeof(store), "%s/store", p.workdir);
			setenv("AUTOTLS_DOMAINS", NAME, 1);
			setenv("AUTOTLS_CA", p.directory_url, 1);
			setenv("AUTOTLS_CA_ROOTS", p.api_root_file, 1);
			setenv("AUTOTLS_STORAGE", store, 1);
			setenv("AUTOTLS_LOG_LEVEL", "warn", 0); /* a caller may ask for more */
			/* Pebble validates HTTP-01 on no port of ours here: one challenge type, one order a name. */
			setenv("AUTOTLS_CHALLENGES", "tls-alpn-01", 1);
			snprintf(v, sizeof(v), "%d", p.tls_port);
			setenv("T490_PORT", v, 1);
			setenv("T490_ROOT", p.issuing_root_file, 1);
			const char *tsan = getenv("T490_TSAN_RT");
			if (tsan && *tsan)
				snprintf(v, sizeof(v), "%s:%s", tsan, lib);
			else
				snprintf(v, sizeof(v), "%s", lib);
			setenv("LD_PRELOAD", v, 1);
			fflush(stdout);
			pid_t pid = fork();
			if (pid == 0) {
				execv("/proc/self/exe", argv);
				_exit(127);
			}
			int status = 0;
			waitpid(pid, &status, 0);
			rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
			if (!WIFEXITED(status))
				printf("FAIL %s:child_died\n", __FILE__);
		}
		pebble_stop(&p);
		return rc;
	}
	RUN(handshakes_during_issuance_and_renewal);
	return TEST_EXIT();
}
