/*
 * Services that use a managed certificate without being able to obtain one: PostgreSQL 15 and Redis cannot
 * answer TLS-ALPN-01 (Pebble validates on the web server's port only), and their users (postgres, redis) cannot
 * write the store. nginx under the shim, as root, leads: it answers the challenge on its own port and issues into
 * the store with AUTOTLS_STORAGE_GROUP=ssl-cert, so certificate records are 0640/0750 group ssl-cert while the
 * account keys stay 0600/0700. Then PostgreSQL (as postgres) and Redis (as redis), both with ssl-cert as a
 * supplementary group, start under the shim with the same AUTOTLS_DOMAINS / STORAGE / STORAGE_GROUP / CA /
 * CA_ROOTS and their own placeholder certificates. They find no leader in their own process trees and cannot
 * lead, so they poll the store (every 2 s) and serve the stored certificate: within 10 s a client that trusts
 * only Pebble's issuing root verifies a.example.test on both, with nginx's serial; without SNI or for another
 * name they keep their placeholders; Pebble sees no order from them.
 *
 * PostgreSQL's TLS starts after an SSLRequest (tests/harness/pgtls.h); each handshake is also followed by the
 * service's own first exchange (PostgreSQL AuthenticationOk, Redis +PONG), so the server really speaks through
 * the certificate it shows.
 */
#include "tests/harness/dbservers.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/pgtls.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define STORAGE_GROUP "ssl-cert"
#define DB_SERVE_TIMEOUT_MS 10000

static struct shim_env env;
static struct dbserver pg, rd;
static char e_group[64];
static char pg_log[320], rd_log[320], e_pg_log[340], e_rd_log[340];
static char *pg_envp[16], *rd_envp[16];
static int started, issued, pg_started, rd_started;
static int orders_before_db;
static char nginx_serial[80];

/*
 * shim_env_start (tests/harness/shim_env.h) with one more variable, AUTOTLS_STORAGE_GROUP, which nginx must have
 * from its first start (it decides how the store's records are made), and without AUTOTLS_HTTP_PORT: Pebble
 * with tlsPort = nginx's port, the folder, the environment, nginx under the shim. 0 or -1; on -1 call
 * shim_env_stop all the same.
 */
static int env_start(struct shim_env *e)
{
	int rc;

	snprintf(e_group, sizeof(e_group), "AUTOTLS_STORAGE_GROUP=%s", STORAGE_GROUP);
	shim_env_extra[0] = e_group;
	shim_env_dir_tag = "shim-pgredis";
	rc = shim_env_start(e, SERVER_NGINX);
	shim_env_extra[0] = NULL;
	shim_env_dir_tag = NULL;
	return rc;
}

/* nginx's environment with AUTOTLS_LOG replaced by log_env (each service logs into a file of its own user's). */
static void db_envp(char **out, size_t cap, char *log_env)
{
	size_t k = 0;

	for (size_t i = 0; env.envp[i] != NULL && k + 2 < cap; i++)
		out[k++] = env.envp[i] == env.e_log ? log_env : env.envp[i];
	out[k] = NULL;
}

/* An empty file owned by user (the shim's log for a process that runs as user and cannot create files in the
 * test's folder). 0 or -1. */
static int own_file(const char *path, uid_t uid, gid_t gid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = fd >= 0 && fchown(fd, uid, gid) == 0 ? 0 : -1;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* 1 when /proc/<pid>/status shows uid and, among the supplementary groups, gid. */
static int runs_as(pid_t pid, uid_t uid, gid_t gid)
{
	char path[64], *text, *line;
	int uid_ok = 0, gid_ok = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = harness_read_file(path, NULL);
	if (text == NULL)
		return 0;
	if ((line = strstr(text, "\nUid:\t")) != NULL)
		uid_ok = strtoul(line + 6, NULL, 10) == uid;
	if ((line = strstr(text, "\nGroups:\t")) != NULL) {
		char *p = line + 9, *end;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			gid_ok |= g == gid;
			p = end;
		}
	}
	free(text);
	return uid_ok && gid_ok;
}

/* The same quietly (a poll makes many attempts): the PostgreSQL client when pg, else Redis'. */
static int db_try(int is_pg, int port, const char *sni, const char *root, struct tls_client_result *r)
{
	int saved = log_silence_begin();
	int rc = is_pg ? pg_tls_connect(port, sni, root, sni, 0, r) : redis_tls_ping(port, sni, root, sni, r);
	log_silence_end(saved);
	return rc;
}

/* Polls until a.example.test verifies against Pebble's issuing root; ms since since_ms, or -1. */
static long db_wait_verified(int is_pg, int port, long since_ms, long timeout_ms, struct tls_client_result *r)
{
	for (;;) {
		memset(r, 0, sizeof(*r));
		if (db_try(is_pg, port, SHIM_NAME, env.p.issuing_root_file, r) == 0)
			return harness_now_ms() - since_ms;
		if (harness_now_ms() - since_ms > timeout_ms)
			break;
		harness_sleep_ms(100);
	}
	/* Once more with the client's reasons shown. */
	memset(r, 0, sizeof(*r));
	if ((is_pg ? pg_tls_connect(port, SHIM_NAME, env.p.issuing_root_file, SHIM_NAME, 0, r)
		   : redis_tls_ping(port, SHIM_NAME, env.p.issuing_root_file, SHIM_NAME, r)) == 0)
		return harness_now_ms() - since_ms;
	/* What it serves instead, seen by a client that verifies nothing. */
	memset(r, 0, sizeof(*r));
	db_try(is_pg, port, SHIM_NAME, NULL, r);
	fprintf(stderr, "  %s: %s not verified within %ld ms (served: subject %s, issuer %s)\n",
		is_pg ? "postgres" : "redis", SHIM_NAME, timeout_ms, r->subject, r->issuer);
	return -1;
}

static long pg_t0, rd_t0;

static void nginx_issues(void)
{
	struct tls_client_result r;

	REQUIRE(started);
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  nginx: %s verified after %ld ms\n", SHIM_NAME, ms);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, &r));
	snprintf(nginx_serial, sizeof(nginx_serial), "%s", r.serial);
	CHECK(nginx_serial[0] != '\0' && strcmp(nginx_serial, env.srv.serial) != 0);
	orders_before_db = pebble_count_orders(&env.p);
	CHECK_INT(orders_before_db, ==, 1);
	issued = nginx_serial[0] != '\0';
}

/* Both start under the shim (even when nginx did not issue: their placeholders are checked all the same), as
 * their users with ssl-cert among their groups. */
static void db_servers_start(void)
{
	struct group *gr = getgrnam(STORAGE_GROUP);
	struct passwd *pw;

	REQUIRE(started);
	REQUIRE(gr != NULL);
	gid_t ssl_gid = gr->gr_gid;
	snprintf(pg_log, sizeof(pg_log), "%s/autotls-pg.log", env.dir);
	snprintf(rd_log, sizeof(rd_log), "%s/autotls-redis.log", env.dir);
	snprintf(e_pg_log, sizeof(e_pg_log), "AUTOTLS_LOG=%s", pg_log);
	snprintf(e_rd_log, sizeof(e_rd_log), "AUTOTLS_LOG=%s", rd_log);
	pw = getpwnam("postgres");
	REQUIRE(pw != NULL);
	CHECK_OK(own_file(pg_log, pw->pw_uid, pw->pw_gid));
	pw = getpwnam("redis");
	REQUIRE(pw != NULL);
	CHECK_OK(own_file(rd_log, pw->pw_uid, pw->pw_gid));
	db_envp(pg_envp, sizeof(pg_envp) / sizeof(pg_envp[0]), e_pg_log);
	db_envp(rd_envp, sizeof(rd_envp) / sizeof(rd_envp[0]), e_rd_log);

	long t = harness_now_ms();
	pg_started = dbserver_start(&pg, DBSERVER_POSTGRES, env.dir, harness_free_port(), STORAGE_GROUP, pg_envp) == 0;
	pg_t0 = harness_now_ms();
	CHECK(pg_started);
	if (pg_started) {
		fprintf(stderr, "  postgres: pid %d on port %d after %ld ms (initdb included)\n", (int)pg.pid, pg.port,
			pg_t0 - t);
		CHECK(runs_as(pg.pid, pg.uid, ssl_gid));
		CHECK_INT(getpgid(pg.pid), ==, pg.pid);
	}
	rd_started = dbserver_start(&rd, DBSERVER_REDIS, env.dir, harness_free_port(), STORAGE_GROUP, rd_envp) == 0;
	rd_t0 = harness_now_ms();
	CHECK(rd_started);
	if (rd_started) {
		fprintf(stderr, "  redis: pid %d on port %d\n", (int)rd.pid, rd.port);
		CHECK(runs_as(rd.pid, rd.uid, ssl_gid));
	}
}

/* Without SNI, and for a name that is not managed, each keeps its placeholder; the session still works. */
static void placeholders_untouched(void)
{
	struct tls_client_result r;
	const char *names[] = {NULL, SHIM_UNMANAGED};

	REQUIRE(pg_started && rd_started);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		memset(&r, 0, sizeof(r));
		CHECK_OK(pg_tls_connect(pg.port, names[i], NULL, NULL, 1, &r));
		CHECK_STR(r.subject, "/CN=" DBSERVER_PLACEHOLDER_CN);
		CHECK_STR(r.serial, pg.serial);
		memset(&r, 0, sizeof(r));
		CHECK_OK(redis_tls_ping(rd.port, names[i], NULL, NULL, &r));
		CHECK_STR(r.subject, "/CN=" DBSERVER_PLACEHOLDER_CN);
		CHECK_STR(r.serial, rd.serial);
	}
	/* The placeholder verifies as what it is: the client's own check works both ways. */
	CHECK_OK(pg_tls_connect(pg.port, DBSERVER_PLACEHOLDER_CN, pg.cert_file, NULL, 0, NULL));
	CHECK_OK(redis_tls_ping(rd.port, DBSERVER_PLACEHOLDER_CN, rd.cert_file, NULL, NULL));
	tls_verify_quiet = 1;
	CHECK(db_try(1, pg.port, DBSERVER_PLACEHOLDER_CN, env.p.issuing_root_file, NULL) != 0);
	CHECK(db_try(0, rd.port, DBSERVER_PLACEHOLDER_CN, env.p.issuing_root_file, NULL) != 0);
	tls_verify_quiet = 0;
}

static void postgres_serves_managed(void)
{
	struct tls_client_result r;

	REQUIRE(issued && pg_started);
	long ms = db_wait_verified(1, pg.port, pg_t0, DB_SERVE_TIMEOUT_MS, &r);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  postgres: %s verified %ld ms after it started\n", SHIM_NAME, ms);
	CHECK_STR(r.serial, nginx_serial);
	memset(&r, 0, sizeof(r));
	CHECK_OK(pg_tls_connect(pg.port, SHIM_NAME, env.p.issuing_root_file, NULL, 1, &r));
	CHECK_STR(r.serial, nginx_serial);
	/* Every backend serves it (each connection is a new process forked from the postmaster). */
	int ok = 0;
	for (int i = 0; i < 10; i++)
		ok += pg_tls_connect(pg.port, SHIM_NAME, env.p.issuing_root_file, NULL, 1, NULL) == 0;
	CHECK_INT(ok, ==, 10);
}

static void redis_serves_managed(void)
{
	struct tls_client_result r;

	REQUIRE(issued && rd_started);
	long ms = db_wait_verified(0, rd.port, rd_t0, DB_SERVE_TIMEOUT_MS, &r);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  redis: %s verified %ld ms after it started\n", SHIM_NAME, ms);
	CHECK_STR(r.serial, nginx_serial);
	int ok = 0;
	for (int i = 0; i < 10; i++)
		ok += redis_tls_ping(rd.port, SHIM_NAME, env.p.issuing_root_file, NULL, NULL) == 0;
	CHECK_INT(ok, ==, 10);
}

/* After the services served it (or gave up), still the one order nginx made. */
static void services_never_order(void)
{
	REQUIRE(issued);
	harness_sleep_ms(2500); /* more than one poll period of theirs */
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	CHECK(pg_started && dbserver_alive(&pg));
	CHECK(rd_started && dbserver_alive(&rd));
	/* nginx still serves the same certificate. */
	struct tls_client_result r;
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, &r));
	CHECK_STR(r.serial, nginx_serial);
}

/* ---- the store ---- */

static int cert_files, cert_bad, acct_keys, acct_bad;
static gid_t share_gid;

static int store_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = path + strlen(env.store);
	unsigned mode = (unsigned)(st->st_mode & 07777);
	int dir = flag == FTW_D || flag == FTW_DP;

	(void)ftw;
	if (strncmp(rel, "/certificates", 13) == 0 && (rel[13] == '\0' || rel[13] == '/')) {
		unsigned want = dir ? 0750 : 0640;
		if (!dir && !S_ISREG(st->st_mode))
			return 0;
		cert_files += !dir;
		if (mode != want || st->st_gid != share_gid) {
			fprintf(stderr, "  store: %s is %04o group %u, not %04o group %u\n", path, mode,
				(unsigned)st->st_gid, want, (unsigned)share_gid);
			cert_bad++;
		}
	} else if (strncmp(rel, "/accounts", 9) == 0 && (rel[9] == '\0' || rel[9] == '/')) {
		if (dir) {
			if (mode != 0700) {
				fprintf(stderr, "  store: folder %s is %04o, not 0700\n", path, mode);
				acct_bad++;
			}
		} else if (S_ISREG(st->st_mode)) {
			char *text = harness_read_file(path, NULL);
			int is_key = strstr(path, "key") != NULL || (text != NULL && strstr(text, "PRIVATE KEY"));
			free(text);
			if (is_key) {
				acct_keys++;
				if (mode != 0600) {
					fprintf(stderr, "  store: key file %s is %04o, not 0600\n", path, mode);
					acct_bad++;
				}
			}
		}
	}
	return 0;
}

/* certificates/...: files 0640 and folders 0750, group ssl-cert; accounts/...: key files 0600, folders 0700. */
static void store_permissions(void)
{
	struct group *gr = getgrnam(STORAGE_GROUP);

	REQUIRE(issued && gr != NULL);
	share_gid = gr->gr_gid;
	cert_files = cert_bad = acct_keys = acct_bad = 0;
	CHECK_OK(nftw(env.store, store_entry, 16, FTW_PHYS));
	CHECK_INT(cert_files, >=, 1);
	CHECK_INT(cert_bad, ==, 0);
	CHECK_INT(acct_keys, >=, 1);
	CHECK_INT(acct_bad, ==, 0);
}

/* Their own shim logs (when the shim wrote any) name no private key. */
static void service_logs_clean(void)
{
	const char *logs[] = {pg_log, rd_log};

	REQUIRE(pg_started && rd_started);
	for (size_t i = 0; i < 2; i++) {
		char *text = harness_read_file(logs[i], NULL);
		CHECK(text != NULL);
		CHECK(text == NULL || strstr(text, "PRIVATE KEY") == NULL);
		free(text);
	}
}

static void stop_leaves_nothing(void)
{
	REQUIRE(pg_started || rd_started);
	pid_t p = pg.pid, q = rd.pid;
	dbserver_stop(&pg);
	dbserver_stop(&rd);
	if (p > 0)
		CHECK(kill(-p, 0) != 0 && errno == ESRCH);
	if (q > 0)
		CHECK(kill(-q, 0) != 0 && errno == ESRCH);
	CHECK_INT(pg.pid, ==, 0);
	CHECK_INT(rd.pid, ==, 0);
}

static void dump_service(const char *log)
{
	size_t len = 0;
	char *text = harness_read_file(log, &len);
	if (text != NULL)
		fprintf(stderr, "  --- %s (tail) ---\n%s\n  ---\n", log, len > 3000 ? text + len - 3000 : text);
	free(text);
}

int main(void)
{
	started = env_start(&env) == 0;
	RUN(nginx_issues);
	RUN(db_servers_start);
	RUN(placeholders_untouched);
	RUN(postgres_serves_managed);
	RUN(redis_serves_managed);
	RUN(services_never_order);
	RUN(store_permissions);
	RUN(service_logs_clean);
	if (test_failed_total) {
		shim_env_dump(&env);
		dbserver_print_logs(&pg);
		dbserver_print_logs(&rd);
		dump_service(pg_log);
		dump_service(rd_log);
	}
	RUN(stop_leaves_nothing);
	shim_env_stop(&env);
	return TEST_EXIT();
}
