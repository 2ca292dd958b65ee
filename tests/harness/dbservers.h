/*
 * Servers that use a TLS certificate but cannot answer TLS-ALPN-01 themselves: PostgreSQL 15 (Debian's
 * /usr/lib/postgresql/15/bin) and Redis (redis-server built with TLS). Each runs as its own system user
 * (postgres / redis, with their own supplementary groups plus one the test may add, e.g. ssl-cert), as a direct
 * child of the test in a process group of its own, on 127.0.0.1:<port>, with a self-signed placeholder
 * certificate (CN and SAN "placeholder.test", P-256) and everything else written into a folder the test owns,
 * and with an environment the test adds to its own (this is how LD_PRELOAD and AUTOTLS_* reach the server).
 *
 * PostgreSQL: initdb (trust authentication, as postgres, without the extra environment) into <dir>/pg/data,
 * then `postgres -D <dir>/pg/data -c listen_addresses=127.0.0.1 -c port=P -c unix_socket_directories=<dir>/pg
 * -c ssl=on -c ssl_cert_file=... -c ssl_key_file=...` (the key is postgres's, 0600).
 * Redis: `redis-server --port 0 --tls-port P --bind 127.0.0.1 --tls-cert-file ... --tls-key-file ...
 * --tls-auth-clients no --daemonize no --dir <dir>/redis --save ''` (the key is redis's, 0600).
 *
 * Stopping goes by PID and process group only, never by name: SIGTERM to the main process, SIGKILL to the group
 * after 5 s. The main process gets PR_SET_PDEATHSIG SIGKILL (set after the change of user, which clears it),
 * so a test killed outright takes its servers with it (PostgreSQL's children follow their postmaster).
 */
#ifndef AUTOTLS_TESTS_HARNESS_DBSERVERS_H
#define AUTOTLS_TESTS_HARNESS_DBSERVERS_H

#include <sys/types.h>

#define DBSERVER_PATH_MAX 512
#define DBSERVER_PLACEHOLDER_CN "placeholder.test"

enum dbserver_kind {
	DBSERVER_POSTGRES, /* PostgreSQL 15 as postgres; TLS after an SSLRequest (tests/harness/pgtls.h) */
	DBSERVER_REDIS,    /* redis-server as redis; TLS from the first byte */
};

struct dbserver {
	enum dbserver_kind kind;
	pid_t pid;  /* the main process (postmaster / redis-server), our child and its own process group's leader */
	int port;
	uid_t uid;  /* the user it runs as */
	gid_t gid;
	char dir[DBSERVER_PATH_MAX];       /* <the test's folder>/pg or /redis, owned by that user */
	char data_dir[DBSERVER_PATH_MAX];  /* PostgreSQL's data folder (initdb's) */
	char cert_file[DBSERVER_PATH_MAX]; /* placeholder.test certificate (PEM, 0644) */
	char key_file[DBSERVER_PATH_MAX];  /* its key (PKCS#8 PEM, 0600, owned by the server's user) */
	char serial[80];                   /* the placeholder's serial, upper-case hex as in tls_client_result */
	char out_file[DBSERVER_PATH_MAX];  /* the server's stdout and stderr (and initdb's) */
};

/*
 * Makes <dir>/pg or <dir>/redis (dir must exist and be traversable by the server's user), the placeholder
 * (kept when it is already there: a restart serves the same one), PostgreSQL's data folder (once), and starts
 * the server on 127.0.0.1:port as its user with the supplementary groups of that user plus extra_group (a group
 * name; NULL: none), the test's environment plus envp (NULL-terminated "NAME=value"; a name given here replaces
 * ours; may be NULL). Waits up to 30 s until the port accepts connections. 0 with s filled, or -1 (with the
 * reason and the server's output printed; nothing left running).
 */
int dbserver_start(struct dbserver *s, enum dbserver_kind kind, const char *dir, int port, const char *extra_group,
		   char *const envp[]);

/* SIGTERM the main process, wait up to 5 s, then SIGKILL its process group; reaps it. Safe to call twice and on a
 * struct whose start failed. */
void dbserver_stop(struct dbserver *s);

/* 1 while the main process is running. */
int dbserver_alive(struct dbserver *s);

/* Prints the tail of the server's output to stderr, for a failing test. */
void dbserver_print_logs(const struct dbserver *s);

const char *dbserver_kind_name(enum dbserver_kind kind);

#endif
