/*
 * AUTOTLS_HOOK (shim/manager/events.c) under openssl s_server, Pebble issuing 20-second certificates (renewal
 * about every 10 s) and AUTOTLS_TEST_BACKOFF_SCALE=60 (retries within seconds). A shell hook appends its
 * environment to a file. It must see, in this order:
 *   - `obtained` once the first certificate is served: the names, AUTOTLS_NOT_AFTER in RFC 3339 UTC equal to the
 *     stored record's, AUTOTLS_CERT_FILE a 0644 file holding the served chain and no key;
 *   - `renewed` at the first renewal, where the hook hangs (it also starts a `sleep` in the background): it is
 *     killed with its whole process group at AUTOTLS_HOOK_TIMEOUT=2 s, its descriptors were only 0 (/dev/null),
 *     1 and 2, it ran in a process group of its own, the renewed certificate is served all the same, and its
 *     output is logged;
 *   - `renewed` again at the next renewal (issuance went on);
 *   - `failed`, with AUTOTLS_ERROR, once Pebble is killed and the next renewal fails;
 *   - `expiring` once the certificate the CA will not renew is within a quarter of its lifetime of its end (the
 *     rule's 7 days, capped at a quarter of the lifetime), once.
 * On-demand issuance (AUTOTLS_ON_DEMAND=1, AUTOTLS_ALLOW=*.od.example.test) in the same server: a handshake for a
 * new allowed name gives that name's `obtained`, and later its `renewed` and (with the CA down) `failed`.
 */
#include "tests/harness/files.h"
#include "tests/harness/proc.h"
#include "tests/harness/records.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALIDITY_S 20
#define OD_NAME "n1.od.example.test"

static char hook_dir[PATH_MAX], hook_path[PATH_MAX + 16], events_path[PATH_MAX + 16];
static char e_hook[PATH_MAX + 32];

static const char hook_body[] =
	"#!/bin/sh\n"
	"d=$(dirname \"$0\")\n"
	"echo \"event=$AUTOTLS_EVENT|arg=$1|names=$AUTOTLS_NAMES|not_after=$AUTOTLS_NOT_AFTER|"
	"cert_file=$AUTOTLS_CERT_FILE|error=$AUTOTLS_ERROR|\" >> \"$d/events\"\n"
	"echo \"hook saw $AUTOTLS_EVENT\"\n"
	"echo \"to stderr too\" >&2\n"
	"if [ \"$AUTOTLS_EVENT\" = renewed ] && [ \"$AUTOTLS_NAMES\" = a.example.test ] && [ ! -e \"$d/hung\" ]; then\n"
	"  : > \"$d/hung\"\n"
	"  echo $$ > \"$d/hook.pid\"\n"
	"  sleep 600 &\n"
	"  echo $! > \"$d/child.pid\"\n"
	"  sleep 600\n"
	"fi\n"
	"exit 0\n";

/* Field key of the idx-th (0 first) line of event ev for names (the line's AUTOTLS_NAMES) into out ("" when
 * absent); returns the number of such lines. */
static int field(const char *ev, const char *names, int idx, const char *key, char *out, size_t cap)
{
	char needle[64], nm[300], k[64];
	char *text = harness_read_file(events_path, NULL), *line = text;
	int count = 0;
	if (out != NULL)
		out[0] = '\0';
	snprintf(needle, sizeof(needle), "event=%s|", ev);
	snprintf(nm, sizeof(nm), "|names=%s|", names);
	snprintf(k, sizeof(k), "|%s=", key ? key : "");
	while (line != NULL && *line) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		if (strncmp(line, needle, strlen(needle)) == 0 && strstr(line, nm) != NULL && count++ == idx && out) {
			char *f = strstr(line, k);
			if (f) {
				f += strlen(k);
				snprintf(out, cap, "%.*s", (int)strcspn(f, "|"), f);
			}
		}
		line = end ? end + 1 : NULL;
	}
	free(text);
	return count;
}

static int count_events(const char *ev, const char *names)
{
	return field(ev, names, -1, NULL, NULL, 0);
}

/* Waits until at least n `ev` events for names are in the file; the elapsed ms or -1. */
static long wait_events(const char *ev, const char *names, int n, long timeout_ms)
{
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < timeout_ms) {
		if (count_events(ev, names) >= n)
			return harness_now_ms() - t0;
		harness_sleep_ms(50);
	}
	return -1;
}

static void rfc3339(char *out, size_t cap, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static pid_t read_pid(const char *name)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", hook_dir, name);
	char *s = harness_read_file(path, NULL);
	pid_t pid = s ? (pid_t)atol(s) : 0;
	free(s);
	return pid;
}

/* 1 when pid is gone or a zombie (an orphan waits for whoever reaps it). */
static int gone(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');
	return paren && (paren[2] == 'Z' || paren[2] == 'X');
}

/* The descriptors of pid: 1 when they are exactly 0 (on /dev/null), 1 and 2. */
static int only_std_fds(pid_t pid)
{
	char path[64], target[256];
	int ok = 1, n = 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		int fd = atoi(de->d_name);
		n++;
		if (fd > 2) {
			fprintf(stderr, "  the hook's child holds fd %d\n", fd);
			ok = 0;
		}
	}
	closedir(d);
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)pid);
	ssize_t len = readlink(path, target, sizeof(target) - 1);
	target[len > 0 ? len : 0] = '\0';
	return ok && n == 3 && strcmp(target, "/dev/null") == 0;
}

/* The serial of the first certificate in a PEM file into out; 0 or -1. */
static int pem_serial(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "re");
	X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	int rc = x ? harness_serial_hex(x, out, cap) : -1;
	X509_free(x);
	if (f)
		fclose(f);
	return rc;
}

static void hook_sees_every_event(void)
{
	struct shim_env env;
	/* Short (the events come at fixed points of the lifetime: renewals at 10 and 20 s, the failure at 30 s,
	 * `expiring` at 35 s), and long enough for the first renewal's hanging hook to be killed (2 s) and its lines
	 * checked well before the next one. */
	struct pebble_opts po = {.validity_s = VALIDITY_S, .authz_reuse = -1};
	struct at_cert_record rec;
	char s1[80], s2[80], s3[80], buf[1200], want[64], cert_file[400];
	const char *tmp = getenv("TMPDIR");

	snprintf(hook_dir, sizeof(hook_dir), "%s/autotls-620-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	REQUIRE(mkdtemp(hook_dir) != NULL);
	REQUIRE(chmod(hook_dir, 0755) == 0);
	snprintf(hook_path, sizeof(hook_path), "%s/hook.sh", hook_dir);
	snprintf(events_path, sizeof(events_path), "%s/events", hook_dir);
	FILE *f = fopen(hook_path, "we");
	REQUIRE(f != NULL);
	fputs(hook_body, f);
	fclose(f);
	REQUIRE(chmod(hook_path, 0755) == 0);
	snprintf(e_hook, sizeof(e_hook), "AUTOTLS_HOOK=%s", hook_path);
	shim_env_extra[0] = e_hook;
	shim_env_extra[1] = "AUTOTLS_HOOK_TIMEOUT=2";
	shim_env_extra[2] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[3] = "AUTOTLS_ALLOW=*.od.example.test";

	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, &po) == 0 && shim_env_server_start(&env) == 0;
	CHECK(ok);
	if (!ok)
		goto out;
	long t0 = harness_now_ms();
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, SHIM_ISSUE_TIMEOUT_MS, s1, sizeof(s1));
	REQUIRE(ms >= 0);

	/* obtained: once, with the record's details. */
	ms = wait_events("obtained", SHIM_NAME, 1, 10000);
	CHECK(ms >= 0);
	fprintf(stderr, "  first certificate %s; obtained %ld ms later\n", s1, ms);
	CHECK_OK(harness_record_load_dir(env.store, env.p.directory_url, SHIM_NAME, &rec));
	rfc3339(want, sizeof(want), rec.info.not_after);
	at_cert_record_clear(&rec);
	field("obtained", SHIM_NAME, 0, "names", buf, sizeof(buf));
	CHECK_STR(buf, SHIM_NAME);
	field("obtained", SHIM_NAME, 0, "arg", buf, sizeof(buf));
	CHECK_STR(buf, "obtained");
	field("obtained", SHIM_NAME, 0, "not_after", buf, sizeof(buf));
	CHECK_STR(buf, want);
	field("obtained", SHIM_NAME, 0, "error", buf, sizeof(buf));
	CHECK_STR(buf, "");
	field("obtained", SHIM_NAME, 0, "cert_file", cert_file, sizeof(cert_file));
	snprintf(buf, sizeof(buf), "%s/public/%s.pem", env.store, SHIM_NAME);
	CHECK_STR(cert_file, buf);
	struct stat st;
	CHECK(stat(cert_file, &st) == 0 && (st.st_mode & 07777) == 0644);
	char *pem = harness_read_file(cert_file, NULL);
	CHECK(pem != NULL && strstr(pem, "BEGIN CERTIFICATE") != NULL && strstr(pem, "PRIVATE KEY") == NULL);
	free(pem);
	char fs[80];
	CHECK(pem_serial(cert_file, fs, sizeof(fs)) == 0 && strcmp(fs, s1) == 0);

	/* An on-demand name: its own obtained (and, below, renewed and failed) from the on-demand thread. */
	struct tls_client_result r;
	CHECK_OK(shim_try_root(&env, OD_NAME, NULL, 0, NULL, &r));
	ms = wait_events("obtained", OD_NAME, 1, 15000);
	CHECK(ms >= 0);
	fprintf(stderr, "  on-demand %s: obtained %ld ms after its first handshake\n", OD_NAME, ms);
	field("obtained", OD_NAME, 0, "cert_file", buf, sizeof(buf));
	CHECK(strstr(buf, "/public/" OD_NAME ".pem") != NULL);

	/* The first renewal: the hook hangs and is killed at its limit, with what it started. */
	ms = shim_wait_serial(&env, env.p.issuing_root_file, s1, 30000, s2, sizeof(s2));
	CHECK(ms >= 0);
	CHECK(wait_events("renewed", SHIM_NAME, 1, 10000) >= 0);
	long hung_at = harness_now_ms();
	pid_t hook_pid = 0, child = 0;
	while (harness_now_ms() - hung_at < 3000 && ((hook_pid = read_pid("hook.pid")) <= 0 || (child = read_pid("child.pid")) <= 0))
		harness_sleep_ms(20);
	CHECK(hook_pid > 0 && child > 0);
	if (child > 0 && !gone(child)) {
		CHECK(only_std_fds(child));
		CHECK_INT(getpgid(child), ==, hook_pid);
		CHECK_INT(getpgid(hook_pid), ==, hook_pid);
		CHECK(getpgid(hook_pid) != getpgid(env.srv.pid));
	}
	long killed = shim_log_wait(&env, "did not finish within 2 s and was killed", NULL, 1, 8000);
	CHECK(killed >= 0);
	harness_sleep_ms(100);
	CHECK(hook_pid > 0 && gone(hook_pid));
	CHECK(child > 0 && gone(child));
	fprintf(stderr, "  renewed to %s; the hanging hook was killed %ld ms after it started\n", s2,
		harness_now_ms() - hung_at);
	CHECK(shim_log_has(&env, "AUTOTLS_HOOK renewed for " SHIM_NAME " said: hook saw renewed"));
	CHECK(shim_log_has(&env, "said: to stderr too"));
	field("renewed", SHIM_NAME, 0, "cert_file", buf, sizeof(buf));
	CHECK_STR(buf, cert_file);
	CHECK(pem_serial(cert_file, fs, sizeof(fs)) == 0 && strcmp(fs, s2) == 0);
	CHECK_OK(shim_try(&env, env.p.issuing_root_file, &r));
	CHECK_STR(r.serial, s2);

	/* Issuance went on: the next renewal, and its event. */
	ms = shim_wait_serial(&env, env.p.issuing_root_file, s2, 30000, s3, sizeof(s3));
	CHECK(ms >= 0);
	CHECK(wait_events("renewed", SHIM_NAME, 2, 10000) >= 0);
	fprintf(stderr, "  renewed again to %s at %ld ms\n", s3, harness_now_ms() - t0);
	/* Logged once the hook has exited, a moment after it wrote its line. */
	CHECK(shim_log_wait(&env, "AUTOTLS_HOOK renewed for " SHIM_NAME " ran (exit 0", NULL, 1, 5000) >= 0);

	/* The CA goes away: the next renewal fails (failed), and the certificate nears its end (expiring). */
	CHECK_OK(harness_record_load_dir(env.store, env.p.directory_url, SHIM_NAME, &rec));
	time_t not_after = rec.info.not_after;
	rfc3339(want, sizeof(want), not_after);
	at_cert_record_clear(&rec);
	CHECK_OK(pebble_kill(&env.p));
	ms = wait_events("failed", SHIM_NAME, 1, 25000);
	CHECK(ms >= 0);
	field("failed", SHIM_NAME, 0, "error", buf, sizeof(buf));
	fprintf(stderr, "  failed %ld ms after Pebble was killed: %s\n", ms, buf);
	CHECK(buf[0] != '\0');
	field("failed", SHIM_NAME, 0, "not_after", buf, sizeof(buf));
	CHECK_STR(buf, want);
	field("failed", SHIM_NAME, 0, "names", buf, sizeof(buf));
	CHECK_STR(buf, SHIM_NAME);
	ms = wait_events("expiring", SHIM_NAME, 1, 30000);
	CHECK(ms >= 0);
	fprintf(stderr, "  expiring %ld s before the end; %ld ms in all\n", (long)(not_after - time(NULL)),
		harness_now_ms() - t0);
	CHECK(time(NULL) <= not_after);
	field("expiring", SHIM_NAME, 0, "not_after", buf, sizeof(buf));
	CHECK_STR(buf, want);
	field("expiring", SHIM_NAME, 0, "cert_file", buf, sizeof(buf));
	CHECK_STR(buf, cert_file);
	harness_sleep_ms(1500);
	CHECK_INT(count_events("expiring", SHIM_NAME), ==, 1);
	CHECK_INT(count_events("obtained", SHIM_NAME), ==, 1);
	CHECK(shim_log_has(&env, "has not been renewed; telling AUTOTLS_HOOK (expiring)"));
	fprintf(stderr, "  %s: obtained %d, renewed %d, failed %d, expiring %d\n", OD_NAME,
		count_events("obtained", OD_NAME), count_events("renewed", OD_NAME), count_events("failed", OD_NAME),
		count_events("expiring", OD_NAME));
	CHECK_INT(count_events("obtained", OD_NAME), ==, 1);
	CHECK_INT(count_events("renewed", OD_NAME), >=, 1);
	CHECK_INT(count_events("failed", OD_NAME), >=, 1);
	shim_check_log(&env);
out:
	if (test_failed_now) {
		shim_env_dump(&env);
		harness_print_tail("the hook's events", events_path, 4000);
	}
	shim_env_stop(&env);
	shim_env_extra[0] = shim_env_extra[1] = shim_env_extra[2] = shim_env_extra[3] = NULL;
	harness_remove_or_keep(hook_dir);
}

int main(void)
{
	RUN(hook_sees_every_event);
	return TEST_EXIT();
}
