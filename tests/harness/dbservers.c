/*
 * PostgreSQL and Redis for the shim tests (see dbservers.h).
 *
 * Who calls it: integration tests, from their main thread (PR_SET_PDEATHSIG fires when the thread that forked
 * ends).
 *
 * What it owns: the processes it starts (each the leader of its own process group, so a stop can sweep what a
 * postmaster leaves behind without naming anything), and the folder <dir>/pg or <dir>/redis it makes. Every
 * running server is registered; an atexit handler stops what a test forgot.
 *
 * The change of user happens in the forked child, before exec, with the groups looked up in the parent
 * (getpwnam / getgrouplist / getgrnam are not async-signal-safe): setgroups, setgid, setuid, then
 * PR_SET_PDEATHSIG (a change of credentials clears it). No setpriv or runuser in between, so the extra
 * environment (LD_PRELOAD) reaches the server alone.
 *
 * What it must never do: find processes by name, listen anywhere but 127.0.0.1.
 */
#include "tests/harness/dbservers.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 30000
#define INITDB_TIMEOUT_MS 120000
#define STOP_GRACE_MS 5000
#define POLL_MS 20

#define PG_BIN_DIR "/usr/lib/postgresql/15/bin"
#define REDIS_SERVER "/usr/bin/redis-server"

/* ---- small helpers ---- */

static int join(char *dst, size_t cap, const char *dir, const char *name)
{
	return (size_t)snprintf(dst, cap, "%s/%s", dir, name) < cap ? 0 : -1;
}

const char *dbserver_kind_name(enum dbserver_kind kind)
{
	switch (kind) {
	case DBSERVER_POSTGRES:
		return "postgres";
	case DBSERVER_REDIS:
		return "redis";
	default:
		return "unknown";
	}
}

static const char *kind_user(enum dbserver_kind kind)
{
	return kind == DBSERVER_POSTGRES ? "postgres" : "redis";
}

/* ---- registry (proc.h): what atexit stops ---- */

static void stop_registered(void *s)
{
	dbserver_stop(s);
}

/* ---- processes ---- */

/* user's uid, primary gid and supplementary groups (as initgroups would set them), plus extra_group. 0 or -1. */
static int lookup_creds(struct harness_creds *c, const char *user, const char *extra_group)
{
	struct passwd *pw = getpwnam(user);

	memset(c, 0, sizeof(*c));
	if (pw == NULL) {
		fprintf(stderr, "dbservers: no user %s (is the package installed? scripts/deps.sh)\n", user);
		return -1;
	}
	c->uid = pw->pw_uid;
	c->gid = pw->pw_gid;
	c->ngroups = HARNESS_SPAWN_MAX_GROUPS - 1;
	if (getgrouplist(user, pw->pw_gid, c->groups, &c->ngroups) < 0) {
		fprintf(stderr, "dbservers: %s has more than %d groups\n", user, HARNESS_SPAWN_MAX_GROUPS - 1);
		return -1;
	}
	if (extra_group != NULL) {
		struct group *gr = getgrnam(extra_group);
		int have = 0;
		if (gr == NULL) {
			fprintf(stderr, "dbservers: no group %s\n", extra_group);
			return -1;
		}
		for (int i = 0; i < c->ngroups; i++)
			have |= c->groups[i] == gr->gr_gid;
		if (!have)
			c->groups[c->ngroups++] = gr->gr_gid;
	}
	return 0;
}

/* fork + exec of argv[0] (an absolute path) as c's user, in cwd, in a new process group, dying with us, our
 * environment plus extra_env, output appended to out_path (spawn.h). The PID or -1. */
static pid_t spawn_as(const struct harness_creds *c, const char *cwd, char *const argv[], char *const extra_env[],
		      const char *out_path)
{
	struct harness_spawn_opts o = {.argv = argv, .extra_env = extra_env, .out_path = out_path, .cwd = cwd,
				       .creds = c, .own_group = 1, .die_with_us = 1};
	pid_t pid;

	return harness_spawn(&o, &pid) == 0 ? pid : -1;
}

/* 1 when pid (our child) has exited and is reaped; *status gets its wait status. */
static int child_gone(pid_t pid, int *status)
{
	int st = 0;
	pid_t r = waitpid(pid, &st, WNOHANG);
	if (r == pid) {
		if (status != NULL)
			*status = st;
		return 1;
	}
	return r < 0 && errno == ECHILD;
}

/* SIGTERM the leader, wait up to STOP_GRACE_MS for it, then SIGKILL the whole group; reaps what is ours. */
static void stop_pid_group(pid_t pid)
{
	if (pid <= 0)
		return;
	harness_stop_child(pid, SIGTERM, STOP_GRACE_MS, 1);
	/* Whatever is left of the group (a postmaster's child that outlived it): gone now. */
	kill(-pid, SIGKILL);
	while (waitpid(-pid, NULL, WNOHANG) > 0)
		;
}

/* ---- files ---- */

/* The self-signed placeholder (placeholder.h: CN and SAN placeholder.test), kept when both files exist; the key
 * is made the server user's (0600). Fills s->serial. 0 or -1. */
static int placeholder(struct dbserver *s)
{
	if (harness_placeholder(s->cert_file, s->key_file, DBSERVER_PLACEHOLDER_CN, s->serial, sizeof(s->serial)) != 0)
		return -1;
	if (chown(s->key_file, s->uid, s->gid) != 0 || chmod(s->key_file, 0600) != 0) {
		fprintf(stderr, "dbservers: chown %s: %s\n", s->key_file, strerror(errno));
		return -1;
	}
	return 0;
}

/* <parent>/<name>, made (0750) and given to the server's user; an existing one is kept. 0 or -1. */
static int make_own_dir(struct dbserver *s, const char *parent, const char *name)
{
	if (join(s->dir, sizeof(s->dir), parent, name) != 0)
		return -1;
	if (mkdir(s->dir, 0750) != 0 && errno != EEXIST) {
		fprintf(stderr, "dbservers: mkdir %s: %s\n", s->dir, strerror(errno));
		return -1;
	}
	if (chown(s->dir, s->uid, s->gid) != 0 || chmod(s->dir, 0750) != 0) {
		fprintf(stderr, "dbservers: chown %s: %s\n", s->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- PostgreSQL ---- */

/* initdb into s->data_dir unless PG_VERSION is there already. 0 or -1. */
static int pg_initdb(struct dbserver *s, const struct harness_creds *c)
{
	char version[DBSERVER_PATH_MAX + 16];
	char *argv[] = {PG_BIN_DIR "/initdb", "-D", s->data_dir, "-A", "trust", "-U", "postgres", "-E", "UTF8",
			"--locale=C", "--no-sync", "--no-instructions", NULL};
	long deadline = harness_now_ms() + INITDB_TIMEOUT_MS;
	int status = 0;
	pid_t pid;

	snprintf(version, sizeof(version), "%s/PG_VERSION", s->data_dir);
	if (access(version, F_OK) == 0)
		return 0;
	pid = spawn_as(c, s->dir, argv, NULL, s->out_file);
	if (pid < 0)
		return -1;
	while (!child_gone(pid, &status)) {
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "dbservers: initdb did not finish within %d ms\n", INITDB_TIMEOUT_MS);
			stop_pid_group(pid);
			return -1;
		}
		harness_sleep_ms(POLL_MS);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "dbservers: initdb failed (status 0x%x)\n", (unsigned)status);
		return -1;
	}
	return 0;
}

static pid_t pg_spawn(struct dbserver *s, const struct harness_creds *c, char *const envp[])
{
	char port[16], cert[DBSERVER_PATH_MAX + 32], key[DBSERVER_PATH_MAX + 32], sock[DBSERVER_PATH_MAX + 32];
	char *argv[] = {PG_BIN_DIR "/postgres", "-D", s->data_dir,
			"-c", "listen_addresses=127.0.0.1",
			"-c", port,
			"-c", sock,
			"-c", "ssl=on",
			"-c", cert,
			"-c", key,
			"-c", "fsync=off",
			"-c", "shared_buffers=16MB",
			"-c", "max_connections=20",
			"-c", "logging_collector=off",
			"-c", "log_connections=on",
			NULL};

	snprintf(port, sizeof(port), "port=%d", s->port);
	snprintf(sock, sizeof(sock), "unix_socket_directories=%s", s->dir);
	snprintf(cert, sizeof(cert), "ssl_cert_file=%s", s->cert_file);
	snprintf(key, sizeof(key), "ssl_key_file=%s", s->key_file);
	return spawn_as(c, s->dir, argv, envp, s->out_file);
}

/* ---- Redis ---- */

static pid_t redis_spawn(struct dbserver *s, const struct harness_creds *c, char *const envp[])
{
	char port[16];
	char *argv[] = {REDIS_SERVER,
			"--port", "0",
			"--tls-port", port,
			"--bind", "127.0.0.1",
			"--tls-cert-file", s->cert_file,
			"--tls-key-file", s->key_file,
			"--tls-auth-clients", "no",
			"--daemonize", "no",
			"--dir", s->dir,
			"--save", "",
			"--appendonly", "no",
			"--logfile", "",
			NULL};

	snprintf(port, sizeof(port), "%d", s->port);
	return spawn_as(c, s->dir, argv, envp, s->out_file);
}

/* ---- the API ---- */

int dbserver_start(struct dbserver *s, enum dbserver_kind kind, const char *dir, int port, const char *extra_group,
		   char *const envp[])
{
	struct harness_creds c;
	long deadline;
	int status = 0;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->port = port;
	if (lookup_creds(&c, kind_user(kind), extra_group) != 0)
		return -1;
	s->uid = c.uid;
	s->gid = c.gid;
	if (make_own_dir(s, dir, kind == DBSERVER_POSTGRES ? "pg" : "redis") != 0 ||
	    join(s->cert_file, sizeof(s->cert_file), s->dir, "placeholder.pem") != 0 ||
	    join(s->key_file, sizeof(s->key_file), s->dir, "placeholder.key") != 0 ||
	    join(s->out_file, sizeof(s->out_file), dir, kind == DBSERVER_POSTGRES ? "pg.out" : "redis.out") != 0 ||
	    join(s->data_dir, sizeof(s->data_dir), s->dir, "data") != 0)
		return -1;
	if (placeholder(s) != 0) {
		fprintf(stderr, "dbservers: cannot make the placeholder in %s\n", s->dir);
		return -1;
	}
	if (kind == DBSERVER_POSTGRES) {
		if (pg_initdb(s, &c) != 0) {
			dbserver_print_logs(s);
			return -1;
		}
		s->pid = pg_spawn(s, &c, envp);
	} else {
		s->pid = redis_spawn(s, &c, envp);
	}
	if (s->pid <= 0) {
		fprintf(stderr, "dbservers: cannot start %s: %s\n", dbserver_kind_name(kind), strerror(errno));
		s->pid = 0;
		return -1;
	}
	harness_reg_add(s, stop_registered);
	deadline = harness_now_ms() + READY_TIMEOUT_MS;
	for (;;) {
		if (child_gone(s->pid, &status)) {
			fprintf(stderr, "dbservers: %s exited at start (status 0x%x)\n", dbserver_kind_name(kind),
				(unsigned)status);
			kill(-s->pid, SIGKILL);
			s->pid = 0;
			harness_reg_remove(s);
			dbserver_print_logs(s);
			return -1;
		}
		if (harness_tcp_connects(port))
			return 0;
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "dbservers: %s does not accept connections on 127.0.0.1:%d after %d ms\n",
				dbserver_kind_name(kind), port, READY_TIMEOUT_MS);
			dbserver_print_logs(s);
			dbserver_stop(s);
			return -1;
		}
		harness_sleep_ms(POLL_MS);
	}
}

void dbserver_stop(struct dbserver *s)
{
	if (s == NULL || s->pid <= 0)
		return;
	stop_pid_group(s->pid);
	s->pid = 0;
	harness_reg_remove(s);
}

int dbserver_alive(struct dbserver *s)
{
	if (s->pid <= 0)
		return 0;
	if (!child_gone(s->pid, NULL))
		return 1;
	/* It died: sweep what it left of its group, and forget it. */
	kill(-s->pid, SIGKILL);
	while (waitpid(-s->pid, NULL, WNOHANG) > 0)
		;
	s->pid = 0;
	harness_reg_remove(s);
	return 0;
}

void dbserver_print_logs(const struct dbserver *s)
{
	if (harness_print_tail(NULL, s->out_file, 4000) != 0)
		fprintf(stderr, "  (no output from %s at %s)\n", dbserver_kind_name(s->kind), s->out_file);
}
