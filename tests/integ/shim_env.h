/*
 * Shared set-up and checks for the shim scenarios (test_3xx): a Pebble whose tlsPort is the port the server
 * under test listens on, a folder for the server's config, the shim's store and its log, and the environment
 * that puts build/libautotls.so under the server:
 *   LD_PRELOAD=<abs>/build/libautotls.so AUTOTLS_DOMAINS=a.example.test AUTOTLS_CA=<directory>
 *   AUTOTLS_CA_ROOTS=<Pebble's API root> AUTOTLS_STORAGE=<dir>/store AUTOTLS_LOG=<dir>/autotls.log
 *   AUTOTLS_LOG_LEVEL=debug
 * and the checks each scenario makes (issued and verified, both TLS versions, the store's permissions, the
 * log's hygiene, a restart that reuses the stored certificate).
 */
#ifndef AUTOTLS_TESTS_INTEG_SHIM_ENV_H
#define AUTOTLS_TESTS_INTEG_SHIM_ENV_H

#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHIM_NAME "a.example.test"
#define SHIM_UNMANAGED "unmanaged.test"
#define SHIM_ISSUE_TIMEOUT_MS 30000
#define SHIM_RESTART_TIMEOUT_MS 2000
#define SHIM_POLL_MS 50

struct shim_env {
	struct pebble p;
	struct server srv;
	enum server_kind kind;
	int port;
	int pebble_started;
	char dir[256];         /* the server's folder (config, placeholders, store, log) */
	char lib[PATH_MAX];    /* absolute path of libautotls.so */
	char store[300];
	char log[300];
	char ca_roots[300];    /* a world-readable copy of Pebble's API root (workers may run as www-data) */
	char e_preload[2 * PATH_MAX + 16], e_domains[128], e_ca[200], e_roots[320], e_storage[320], e_log[320];
	char e_level[32], e_http[48];
	char e_asan[96], e_ubsan[96];
	char *envp[16];
	int orders_after_issue;
};

static inline long shim_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static inline void shim_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* $BUILD/libautotls.so (BUILD defaults to "build") as an absolute path. 0, or -1 when it is not there. */
static inline int shim_lib_path(char *out, size_t cap)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX], cwd[PATH_MAX];

	if (build == NULL || *build == '\0')
		build = "build";
	if ((size_t)snprintf(rel, sizeof(rel), "%s/libautotls.so", build) >= sizeof(rel))
		return -1;
	if (realpath(rel, out) != NULL)
		return 0;
	/* Not there (yet): still name it absolutely, so the failure message is clear. */
	if (rel[0] == '/')
		snprintf(out, cap, "%s", rel);
	else if (getcwd(cwd, sizeof(cwd)) != NULL) {
		size_t a = strlen(cwd), b = strlen(rel);
		if (a + 1 + b + 1 <= cap) {
			memcpy(out, cwd, a);
			out[a] = '/';
			memcpy(out + a + 1, rel, b + 1);
		}
	}
	fprintf(stderr, "  shim: %s does not exist (build it with make)\n", out);
	return -1;
}

static inline int shim_copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len = 0;
	char *data = harness_read_file(from, &len);
	int fd = -1, ret = -1;

	if (data == NULL)
		return -1;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0 && write(fd, data, len) == (ssize_t)len && fchmod(fd, mode) == 0)
		ret = 0;
	if (fd >= 0 && close(fd) != 0)
		ret = -1;
	free(data);
	return ret;
}

/* Pebble's certificateValidityPeriod for the next shim_env_start (0: Pebble's default). */
static long shim_env_validity_s;
/* AUTOTLS_DOMAINS for the next shim_env_start (NULL: SHIM_NAME). */
static const char *shim_env_domains;
/* Pebble's validation ports for the next shim_env_start (0: tlsPort is the server's port, httpPort free). */
static int shim_env_pebble_tls_port, shim_env_pebble_http_port;
/* Up to four more "NAME=value" settings for the server's environment. */
static const char *shim_env_extra[4];
/* Pebble's options for the next shim_env_start (NULL: from the knobs above, authz_reuse -1); tlsPort is the
 * server's port all the same. */
static const struct pebble_opts *shim_env_pebble_opts;
/* The folder is <TMPDIR>/autotls-<tag>-<kind>-XXXXXX (NULL: "shim"). */
static const char *shim_env_dir_tag;

/* What shim_env_start does but start the server: server_start(&e->srv, kind, e->dir, e->port, e->envp) comes
 * next (shim_env_start, or the caller once it has done what comes before). 0 or -1, as there. */
static inline int shim_env_prepare(struct shim_env *e, enum server_kind kind)
{
	const char *tmp = getenv("TMPDIR");
	struct pebble_opts po = {0};
	int k = 0;

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	harness_ignore_sigpipe();
	if (shim_lib_path(e->lib, sizeof(e->lib)) != 0)
		return -1;
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 150)
		tmp = "/tmp";
	snprintf(e->dir, sizeof(e->dir), "%s/autotls-%s-%s-XXXXXX", tmp, shim_env_dir_tag ? shim_env_dir_tag : "shim",
		 server_kind_name(kind));
	if (mkdtemp(e->dir) == NULL) {
		fprintf(stderr, "  shim: mkdtemp %s: %s\n", e->dir, strerror(errno));
		e->dir[0] = '\0';
		return -1;
	}
	chmod(e->dir, 0755);
	e->port = harness_free_port();
	if (shim_env_pebble_opts != NULL) {
		po = *shim_env_pebble_opts;
		po.tls_port = e->port;
	} else {
		po.tls_port = shim_env_pebble_tls_port ? shim_env_pebble_tls_port : e->port;
		po.http_port = shim_env_pebble_http_port;
		po.authz_reuse = -1;
		po.validity_s = shim_env_validity_s;
	}
	if (e->port <= 0 || pebble_start(&e->p, &po) != 0)
		return -1;
	e->pebble_started = 1;
	snprintf(e->store, sizeof(e->store), "%s/store", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/autotls.log", e->dir);
	snprintf(e->ca_roots, sizeof(e->ca_roots), "%s/ca-api-root.pem", e->dir);
	/* Pebble's API certificate is the harness's and survives pebble_restart: this copy stays right. */
	if (shim_copy_file(e->p.api_root_file, e->ca_roots, 0644) != 0)
		return -1;
	char pre[2 * PATH_MAX];
	int sanitized = 0;
	if (harness_preload_value(pre, sizeof(pre), e->lib, &sanitized) != 0)
		return -1;
	snprintf(e->e_preload, sizeof(e->e_preload), "LD_PRELOAD=%s", pre);
	if (sanitized) {
		snprintf(e->e_asan, sizeof(e->e_asan), "%s", HARNESS_ASAN_OPTIONS);
		snprintf(e->e_ubsan, sizeof(e->e_ubsan), "%s", HARNESS_UBSAN_OPTIONS);
	}
	snprintf(e->e_domains, sizeof(e->e_domains), "AUTOTLS_DOMAINS=%s", shim_env_domains ? shim_env_domains : SHIM_NAME);
	snprintf(e->e_ca, sizeof(e->e_ca), "AUTOTLS_CA=%s", e->p.directory_url);
	snprintf(e->e_roots, sizeof(e->e_roots), "AUTOTLS_CA_ROOTS=%s", e->ca_roots);
	snprintf(e->e_storage, sizeof(e->e_storage), "AUTOTLS_STORAGE=%s", e->store);
	snprintf(e->e_log, sizeof(e->e_log), "AUTOTLS_LOG=%s", e->log);
	snprintf(e->e_level, sizeof(e->e_level), "AUTOTLS_LOG_LEVEL=debug");
	/* HTTP-01 is enabled by default (port free): its responder must be where Pebble validates, so that
	 * whichever challenge the random order takes first succeeds and a name costs exactly one order. */
	snprintf(e->e_http, sizeof(e->e_http), "AUTOTLS_HTTP_PORT=%d", e->p.http_port);
	e->envp[k++] = e->e_preload;
	e->envp[k++] = e->e_domains;
	e->envp[k++] = e->e_ca;
	e->envp[k++] = e->e_roots;
	e->envp[k++] = e->e_storage;
	e->envp[k++] = e->e_log;
	e->envp[k++] = e->e_level;
	e->envp[k++] = e->e_http;
	if (e->e_asan[0]) {
		e->envp[k++] = e->e_asan;
		e->envp[k++] = e->e_ubsan;
	}
	for (int x = 0; x < 4; x++)
		if (shim_env_extra[x])
			e->envp[k++] = (char *)shim_env_extra[x];
	e->envp[k] = NULL;
	return 0;
}

/*
 * Starts Pebble (tlsPort = a free port) and the server of kind on that port under the shim. 0 or -1 (and
 * prints why). On -1 call shim_env_stop all the same.
 */
static inline int shim_env_start(struct shim_env *e, enum server_kind kind)
{
	if (shim_env_prepare(e, kind) != 0)
		return -1;
	return server_start(&e->srv, kind, e->dir, e->port, e->envp);
}

static inline int shim_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Stops the server and Pebble; removes the folder unless AUTOTLS_TEST_KEEP is set. */
static inline void shim_env_stop(struct shim_env *e)
{
	server_stop(&e->srv);
	if (e->pebble_started)
		pebble_stop(&e->p);
	e->pebble_started = 0;
	if (e->dir[0] != '\0') {
		if (getenv("AUTOTLS_TEST_KEEP"))
			fprintf(stderr, "  shim: kept %s\n", e->dir);
		else
			nftw(e->dir, shim_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	e->dir[0] = '\0';
}

/* What a failing scenario prints: the server's output and the shim's log. */
static inline void shim_env_dump(const struct shim_env *e)
{
	size_t len = 0;
	char *text = harness_read_file(e->log, &len);

	server_print_logs(&e->srv);
	if (text != NULL)
		fprintf(stderr, "  --- %s (tail) ---\n%s\n  ---\n", e->log, len > 4000 ? text + len - 4000 : text);
	else
		fprintf(stderr, "  (no shim log at %s)\n", e->log);
	free(text);
}

/* One handshake for name verified against root_file (NULL: none), the client's stderr chatter silenced (a poll
 * makes hundreds of attempts). */
static inline int shim_try_root(const struct shim_env *e, const char *name, const char *alpn, int version,
				const char *root_file, struct tls_client_result *res)
{
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	fflush(stderr);
	if (saved >= 0 && devnull >= 0)
		dup2(devnull, 2);
	rc = tls_client_connect(e->port, name, alpn, version, root_file, name, res);
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	if (devnull >= 0)
		close(devnull);
	return rc;
}

/* One verified handshake for name against Pebble's issuing root (shim_try_root). */
static inline int shim_try_verified(const struct shim_env *e, const char *name, const char *alpn, int version,
				    struct tls_client_result *res)
{
	return shim_try_root(e, name, alpn, version, e->p.issuing_root_file, res);
}

/* Polls every 50 ms until a client trusting only Pebble's root verifies name; the elapsed ms, or -1. */
static inline long shim_wait_verified(const struct shim_env *e, const char *name, long timeout_ms)
{
	long start = shim_now_ms();
	struct tls_client_result res;

	for (;;) {
		if (shim_try_verified(e, name, NULL, 0, &res) == 0)
			return shim_now_ms() - start;
		if (shim_now_ms() - start > timeout_ms)
			break;
		shim_sleep_ms(SHIM_POLL_MS);
	}
	/* Once more with the client's reasons shown. */
	if (tls_client_connect(e->port, name, NULL, 0, e->p.issuing_root_file, name, &res) == 0)
		return shim_now_ms() - start;
	fprintf(stderr, "  shim: %s not verified within %ld ms (last served: subject %s, issuer %s)\n", name,
		timeout_ms, res.subject, res.issuer);
	return -1;
}

/* Both TLS 1.2 and TLS 1.3 handshakes for the managed name verify against Pebble's root. */
static inline void shim_check_versions(const struct shim_env *e)
{
	struct tls_client_result r12, r13;

	memset(&r12, 0, sizeof(r12));
	memset(&r13, 0, sizeof(r13));
	CHECK_OK(tls_client_connect(e->port, SHIM_NAME, NULL, TLS1_2_VERSION, e->p.issuing_root_file, NULL, &r12));
	CHECK_STR(r12.version, "TLSv1.2");
	CHECK_OK(tls_client_connect(e->port, SHIM_NAME, NULL, TLS1_3_VERSION, e->p.issuing_root_file, NULL, &r13));
	CHECK_STR(r13.version, "TLSv1.3");
	CHECK(strcmp(r12.serial, e->srv.serial) != 0);
	CHECK_STR(r12.serial, r13.serial);
}

/* A client that trusts nothing, asking for sni, sees the certificate with serial and subject /CN=cn: the
 * server's own, untouched. */
static inline void shim_check_untouched(const struct shim_env *e, const char *sni, const char *cn,
					const char *serial)
{
	struct tls_client_result r;
	char subject[128];

	memset(&r, 0, sizeof(r));
	snprintf(subject, sizeof(subject), "/CN=%s", cn);
	CHECK_OK(tls_client_connect(e->port, sni, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.subject, subject);
	CHECK_STR(r.serial, serial);
}

/* ---- the store's permissions ---- */

static int shim_perm_bad, shim_perm_keys, shim_perm_dirs;

static inline int shim_perm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DP) {
		shim_perm_dirs++;
		if ((st->st_mode & 07777) != 0700) {
			fprintf(stderr, "  store: folder %s is %04o, not 0700\n", path, (unsigned)(st->st_mode & 07777));
			shim_perm_bad++;
		}
		return 0;
	}
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	int is_key = 0;
	for (const char *c = base; *c && !is_key; c++)
		is_key = strncasecmp(c, "key", 3) == 0;
	if (!is_key) {
		char *text = harness_read_file(path, NULL);
		is_key = text != NULL && strstr(text, "PRIVATE KEY") != NULL;
		free(text);
	}
	if (is_key) {
		shim_perm_keys++;
		if ((st->st_mode & 07777) != 0600) {
			fprintf(stderr, "  store: key file %s is %04o, not 0600\n", path, (unsigned)(st->st_mode & 07777));
			shim_perm_bad++;
		}
	}
	return 0;
}

/* Every folder in the store is 0700, every key file (named *key* or holding a PEM private key) is 0600, and
 * there is at least one key file. */
static inline void shim_check_store_perms(const struct shim_env *e)
{
	shim_perm_bad = shim_perm_keys = shim_perm_dirs = 0;
	CHECK_OK(nftw(e->store, shim_perm_entry, 16, FTW_PHYS));
	CHECK_INT(shim_perm_dirs, >=, 1);
	CHECK_INT(shim_perm_keys, >=, 1);
	CHECK_INT(shim_perm_bad, ==, 0);
}

/* ---- the log's hygiene ---- */

static inline int shim_b64_char(int c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '_' || c == '-';
}

/*
 * 1 when line holds a run of more than 60 base64 / base64url characters: a PEM body line, a JWS, a DER blob.
 * Words are split at white space, quotes, brackets and '='; a word with "://" (a URL) or starting with '/' (a
 * path) is skipped, and so is a run of hex digits alone (a SHA-256 fingerprint is fine to log).
 */
static inline int shim_line_has_blob(const char *line, size_t len)
{
	static const char delim[] = " \t\r\"'`,;()[]{}<>=";
	size_t i = 0;

	while (i < len) {
		size_t start, end;
		while (i < len && strchr(delim, line[i]) != NULL)
			i++;
		start = i;
		while (i < len && strchr(delim, line[i]) == NULL)
			i++;
		end = i;
		if (end == start || line[start] == '/')
			continue;
		int url = 0;
		for (size_t j = start; j + 2 < end && !url; j++)
			url = line[j] == ':' && line[j + 1] == '/' && line[j + 2] == '/';
		if (url)
			continue;
		for (size_t j = start; j < end;) {
			size_t run = 0, hex = 1;
			while (j < end && shim_b64_char((unsigned char)line[j])) {
				hex &= isxdigit((unsigned char)line[j]) != 0;
				run++;
				j++;
			}
			if (run > 60 && !hex)
				return 1;
			if (run == 0)
				j++;
		}
	}
	return 0;
}

/* The shim's log exists, names no private key and holds no base64 blob. */
static inline void shim_check_log(const struct shim_env *e)
{
	size_t len = 0;
	char *text = harness_read_file(e->log, &len);
	int blobs = 0;

	CHECK(text != NULL);
	if (text == NULL)
		return;
	CHECK(strstr(text, "PRIVATE KEY") == NULL);
	for (const char *line = text; line < text + len;) {
		const char *nl = memchr(line, '\n', (size_t)(text + len - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
		if (shim_line_has_blob(line, n)) {
			if (blobs++ < 3)
				fprintf(stderr, "  log: a base64 run over 60 characters: %.*s\n", (int)(n > 200 ? 200 : n),
					line);
		}
		line += n + 1;
	}
	CHECK_INT(blobs, ==, 0);
	free(text);
}

/* 1 when the shim's log has a line containing what. */
static inline int shim_log_has(const struct shim_env *e, const char *what)
{
	char *text = harness_read_file(e->log, NULL);
	int found = text != NULL && strstr(text, what) != NULL;
	free(text);
	return found;
}

/*
 * Stops the server and starts it again on the same port, store and log: the stored certificate must be served
 * (verified) within 2 s of the start, and Pebble must see no new order (checked again a second later).
 */
static inline void shim_check_restart(struct shim_env *e)
{
	int orders = pebble_count_orders(&e->p);
	long t0, elapsed;

	CHECK_INT(orders, >=, 1);
	server_stop(&e->srv);
	t0 = shim_now_ms();
	if (server_start(&e->srv, e->kind, e->dir, e->port, e->envp) != 0) {
		CHECK(!"the server did not start again");
		return;
	}
	elapsed = shim_wait_verified(e, SHIM_NAME, SHIM_RESTART_TIMEOUT_MS);
	CHECK(elapsed >= 0);
	if (elapsed >= 0) {
		elapsed = shim_now_ms() - t0;
		CHECK_INT(elapsed, <=, SHIM_RESTART_TIMEOUT_MS);
	}
	shim_sleep_ms(1000);
	CHECK_INT(pebble_count_orders(&e->p), ==, orders);
}

#endif
