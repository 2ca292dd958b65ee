/*
 * The Pebble harness: starts Debian's pebble and pebble-challtestsrv on loopback, on free ports it picks, and
 * stops them (by PID) when the test ends, fails or is killed. Two tests can run at once: every port, file and
 * folder is the harness's own.
 *
 * pebble-challtestsrv serves only its mock DNS (A answers 127.0.0.1, no AAAA) and its management API; Pebble is
 * pointed at that DNS with -dnsserver, runs with PEBBLE_VA_NOSLEEP=1, and listens with a throwaway certificate
 * the harness makes (api_root_file is the CA to trust for Pebble's API).
 */
#ifndef AUTOTLS_TESTS_HARNESS_PEBBLE_H
#define AUTOTLS_TESTS_HARNESS_PEBBLE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct pebble_opts {
	int http_port;            /* Pebble's httpPort for HTTP-01 validation; 0: the harness picks a free one */
	int tls_port;             /* Pebble's tlsPort for TLS-ALPN-01 validation; 0: the harness picks one */
	int nonce_reject;         /* PEBBLE_WFE_NONCEREJECT percentage; 0: none (explicitly 0) */
	int eab_required;         /* externalAccountBindingRequired with the keys below */
	long validity_s;          /* certificateValidityPeriod in seconds; 0: Pebble's default */
	int authz_reuse;          /* PEBBLE_AUTHZREUSE percentage; -1 leaves Pebble's default */
	int alternate_roots;      /* PEBBLE_ALTERNATE_ROOTS count; 0: none */
	int dns_server_port;      /* nonzero: Pebble resolves through 127.0.0.1:<this port> (a test's own DNS
				   * server, which must then answer A queries too) instead of the mock DNS */
};

/* The EAB key pair the harness configures when eab_required is set. */
#define PEBBLE_EAB_KID "kid-1"
#define PEBBLE_EAB_HMAC "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"

struct pebble {
	pid_t pebble_pid;
	pid_t chall_pid;
	char workdir[PATH_MAX];       /* a fresh temporary folder, removed by pebble_stop */
	char directory_url[128];      /* https://127.0.0.1:<port>/dir */
	char mgmt_url[128];           /* Pebble's management API */
	char chall_mgmt_url[128];     /* pebble-challtestsrv's management API */
	char api_root_file[PATH_MAX]; /* PEM of the CA that signed Pebble's listener certificate */
	char issuing_root_file[PATH_MAX]; /* PEM of /roots/0 */
	char intermediate_file[PATH_MAX]; /* PEM of /intermediates/0 */
	char log_file[PATH_MAX];      /* Pebble's stdout and stderr */
	int http_port;
	int tls_port;
	int dns_port;
};

/* Starts both and waits until the directory answers. Returns 0 or -1 (and prints why). */
int pebble_start(struct pebble *p, const struct pebble_opts *opts);

/* Stops both (SIGTERM, then SIGKILL) and removes the work folder. Safe to call twice. */
void pebble_stop(struct pebble *p);

/* Kills Pebble alone (SIGKILL) / starts it again with the same settings and ports (its roots change). */
int pebble_kill(struct pebble *p);
int pebble_restart(struct pebble *p);

/* Sets / clears a TXT record in the mock DNS (host is a FQDN, with or without the final dot). 0 or -1. */
int pebble_set_txt(struct pebble *p, const char *host, const char *value);
int pebble_clear_txt(struct pebble *p, const char *host);
/* Makes the mock DNS answer host's A queries with ipv4 (e.g. an address nothing listens on, for a name whose
 * validation must fail). 0 or -1. */
int pebble_set_a(struct pebble *p, const char *host, const char *ipv4);

/* How many new orders Pebble has logged so far (counts its newOrder requests in log_file). */
int pebble_count_orders(const struct pebble *p);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);

/* Ignores SIGPIPE in the test process (when it has the default action): a TLS or HTTP peer that closes early
 * must fail one write, not kill the test. pebble_start and the responders call it. */
void harness_ignore_sigpipe(void);

/* Reads a whole file into a new NUL-terminated buffer (caller frees); NULL on error. */
char *harness_read_file(const char *path, size_t *len);

#endif
