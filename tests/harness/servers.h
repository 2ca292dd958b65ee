/*
 * Real TLS servers for the shim's integration tests: `openssl s_server`, nginx (daemonised, master + 2 workers
 * as www-data) and python3's http.server behind an ssl.SSLContext. Each runs as the test's own process(es) on
 * 127.0.0.1:<port>, with its config and a self-signed placeholder certificate (CN and SAN "placeholder.test",
 * P-256) written into a folder the test owns, and with an environment the test adds to its own (this is how
 * LD_PRELOAD and the AUTOTLS_* variables reach the server).
 *
 * Stopping never looks processes up by name (other tests may run the same servers at once): s_server and
 * python are our children (they also die with the test through PR_SET_PDEATHSIG); nginx's master is found
 * through its pid file and stopped together with its workers through its process group (ngx_daemon calls
 * setsid), and a small watchdog process SIGKILLs that group if the test dies without stopping it.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SERVERS_H
#define AUTOTLS_TESTS_HARNESS_SERVERS_H

#include <sys/types.h>

#define SERVER_PATH_MAX 512

/* The placeholder every server starts with, and nginx's second (unmanaged) virtual host. */
#define SERVER_PLACEHOLDER_CN "placeholder.test"
#define SERVER_OTHER_NAME "other.test"
#define SERVER_OTHER_CN "other.placeholder.test"

enum server_kind {
	SERVER_S_SERVER, /* openssl s_server -www -alpn h2,http/1.1 */
	SERVER_NGINX,    /* nginx: http2, a default server and a server block for other.test */
	SERVER_PYTHON,   /* python3 http.server (threading) with SSLContext(PROTOCOL_TLS_SERVER) */
};

struct server {
	enum server_kind kind;
	pid_t pid;          /* the main process: s_server, python3, or nginx's master (from its pid file) */
	pid_t watchdog_pid; /* nginx: kills the master's process group if the test dies */
	int port;
	char dir[SERVER_PATH_MAX];            /* the folder the test gave; config and certificates live here */
	char cert_file[SERVER_PATH_MAX];      /* placeholder.test certificate (PEM) */
	char key_file[SERVER_PATH_MAX];       /* its key (PKCS#8 PEM, 0600) */
	char other_cert_file[SERVER_PATH_MAX]; /* nginx: other.test's own placeholder (CN other.placeholder.test) */
	char other_key_file[SERVER_PATH_MAX];
	char serial[80];       /* the placeholder's serial, upper-case hex as in tls_client_result.serial */
	char other_serial[80]; /* other.test's */
	char out_file[SERVER_PATH_MAX];       /* the server's stdout and stderr */
	char error_log[SERVER_PATH_MAX];      /* nginx: error_log */
	char pid_file[SERVER_PATH_MAX];       /* nginx: pid file */
	char config_file[SERVER_PATH_MAX];    /* nginx.conf, or the python script */
};

/*
 * Writes the config (and, unless they are already there from an earlier start, the placeholder certificates)
 * into dir, starts the server on 127.0.0.1:port with the current environment plus envp (NULL-terminated
 * "NAME=value" strings; a name given here replaces ours; envp may be NULL), and waits (up to 15 s) until the
 * port accepts connections. dir must exist; it is made 0755 so nginx's workers (www-data) can traverse it.
 * Returns 0 with s filled, or -1 (with the reason and the server's output printed; nothing left running).
 */
int server_start(struct server *s, enum server_kind kind, const char *dir, int port, char *const envp[]);

/* SIGTERM, then SIGKILL after 5 s; nginx: the master and every worker (the whole process group). Reaps what
 * it can. Safe to call twice and on a struct whose start failed. */
void server_stop(struct server *s);

/* 1 while the main process is running. */
int server_alive(struct server *s);

/* Prints the tail of the server's output and (nginx) error log to stderr, for a failing test. */
void server_print_logs(const struct server *s);

const char *server_kind_name(enum server_kind kind);

#endif
