/*
 * Real TLS servers for the shim's integration tests: `openssl s_server`, nginx (daemonised, master + 2 workers
 * as www-data), python3's http.server behind an ssl.SSLContext, Apache (event MPM, children as www-data),
 * HAProxy (master-worker, the worker as haproxy), lighttpd (one process, www-data, daemonised after setuid) and
 * stunnel4 (threads, stunnel4, daemonised after setuid). Each runs as the test's own process(es) on
 * 127.0.0.1:<port>, with its config and a self-signed placeholder certificate (CN and SAN "placeholder.test",
 * P-256) written into a folder the test owns, and with an environment the test adds to its own (this is how
 * LD_PRELOAD and the AUTOTLS_* variables reach the server).
 *
 * Stopping never looks processes up by name (other tests may run the same servers at once): s_server and
 * python are our children (they also die with the test through PR_SET_PDEATHSIG); the daemonising servers'
 * main process is found through its pid file and stopped together with its children through its process
 * group (each calls setsid when it detaches; lighttpd's double fork leaves it in a group whose leader is gone,
 * so the group is remembered apart), and a small watchdog process SIGKILLs that group if the test dies without
 * stopping it.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SERVERS_H
#define AUTOTLS_TESTS_HARNESS_SERVERS_H

#include <sys/types.h>

#define SERVER_PATH_MAX 512

/* The placeholder every server starts with, and the second (unmanaged) virtual host of every server but
 * s_server and python. */
#define SERVER_PLACEHOLDER_CN "placeholder.test"
#define SERVER_OTHER_NAME "other.test"
#define SERVER_OTHER_CN "other.placeholder.test"

enum server_kind {
	SERVER_S_SERVER, /* openssl s_server -www -alpn h2,http/1.1 */
	SERVER_NGINX,    /* nginx: http2, a default server and a server block for other.test */
	SERVER_PYTHON,   /* python3 http.server (threading) with SSLContext(PROTOCOL_TLS_SERVER) */
	SERVER_APACHE,   /* apache2 -k start: event MPM, mod_ssl, Protocols h2 http/1.1, a vhost for other.test */
	SERVER_HAPROXY,  /* haproxy -W -D: a crt-list (placeholder, other.test), alpn h2,http/1.1, return 200 */
	SERVER_LIGHTTPD, /* lighttpd: mod_openssl, a $HTTP["host"] block for other.test, runs as www-data */
	SERVER_STUNNEL,  /* stunnel4: [svc] exec /bin/echo, an sni=svc:other.test service, runs as stunnel4 */
};

struct server {
	enum server_kind kind;
	pid_t pid;          /* the main process: s_server, python3, or the daemon's (from its pid file) */
	pid_t pgid;         /* daemons: the process group server_stop sweeps (lighttpd: not pid) */
	pid_t watchdog_pid; /* daemons: kills that process group if the test dies */
	int port;
	char dir[SERVER_PATH_MAX];            /* the folder the test gave; config and certificates live here */
	char cert_file[SERVER_PATH_MAX];      /* placeholder.test certificate (PEM) */
	char key_file[SERVER_PATH_MAX];       /* its key (PKCS#8 PEM, 0600) */
	char other_cert_file[SERVER_PATH_MAX]; /* other.test's own placeholder (CN other.placeholder.test) */
	char other_key_file[SERVER_PATH_MAX];
	char serial[80];       /* the placeholder's serial, upper-case hex as in tls_client_result.serial */
	char other_serial[80]; /* other.test's */
	char out_file[SERVER_PATH_MAX];       /* the server's stdout and stderr */
	char error_log[SERVER_PATH_MAX];      /* daemons: their error log */
	char pid_file[SERVER_PATH_MAX];       /* daemons: their pid file */
	char config_file[SERVER_PATH_MAX];    /* <kind>.conf, or the python script */
};

/*
 * 1: the next starts write no user switch for HAProxy (user/group), lighttpd (server.username) and stunnel
 * (setuid/setgid), so every process of theirs stays root (nginx and Apache keep theirs: their root master or
 * parent stays anyway). For the shim scenarios that
 * show what works once the certificate manager can run in a process that stays privileged. Default 0.
 */
extern int server_keep_root;

/* Lines the next nginx starts add inside their http block (e.g. "    ssl_ciphers DEFAULT:@SECLEVEL=3;\n"); NULL:
 * none. */
extern const char *server_nginx_http_extra;

/*
 * Writes the config (and, unless they are already there from an earlier start, the placeholder certificates)
 * into dir, starts the server on 127.0.0.1:port with the current environment plus envp (NULL-terminated
 * "NAME=value" strings; a name given here replaces ours; envp may be NULL), and waits (up to 15 s) until the
 * port accepts connections. dir must exist; it is made 0755 so nginx's workers (www-data) can traverse it.
 * Returns 0 with s filled, or -1 (with the reason and the server's output printed; nothing left running).
 */
int server_start(struct server *s, enum server_kind kind, const char *dir, int port, char *const envp[]);

/* SIGTERM, then SIGKILL after 5 s; daemons: the main process and every child (the whole process group). Reaps
 * what it can. Safe to call twice and on a struct whose start failed. */
void server_stop(struct server *s);

/*
 * The server's own graceful reload, sent to its main process: nginx SIGHUP (new workers), Apache SIGUSR1
 * (graceful: new children), HAProxy SIGUSR2 (the master re-execs itself and starts a new worker). 0 once sent;
 * -1 for a kind with none here (s_server, python, lighttpd, stunnel: both of the last two re-read their
 * configuration after dropping privileges and could not read the placeholder key again) or when not running.
 */
int server_reload(struct server *s);

/* 1 while the main process is running. */
int server_alive(struct server *s);

/* Prints the tail of the server's output and (daemons) error log to stderr, for a failing test. */
void server_print_logs(const struct server *s);

const char *server_kind_name(enum server_kind kind);

#endif
