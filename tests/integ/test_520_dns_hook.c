/*
 * DNS-01 through a hook command (challenge/dns01_hook.c) against Pebble: a bash hook in the test's folder sets
 * and clears the TXT record through pebble-challtestsrv's management API with curl (the URL in
 * AUTOTLS_TEST_CHALL_URL), the solver waits until the mock DNS (the configured resolver, as AUTOTLS_DNS_RESOLVER)
 * shows it, and an engine orders for dns.example.test and for *.wild.example.test with wild.example.test. A hook
 * that fails (exit 3, a message on stderr) fails the issuance with the status and the message in one log line;
 * a hook that succeeds without setting anything fails after the configured wait and is asked to delete.
 *
 * The test's thread holds a lock the solver's wait hooks release while it waits, as the manager thread holds
 * its quiesce lock (tests/harness/solver_lock.h).
 */
#include "challenge/dns01_hook.h"
#include "challenge/dns01_rfc2136.h"
#include "acme/solver.h"
#include "tests/harness/issue_env.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/solver_lock.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/log.h"
#include "dns/query.h"
#include "util/clock.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct issue_env env;
static struct at_dns01_hook_config cfg;
static char hook_path[PATH_MAX + 32], calls_path[PATH_MAX + 32], log_path[PATH_MAX + 32];
static int dns_port;
static long wait_s = 20;
static int started;

static int write_hook(const char *body)
{
	FILE *f = fopen(hook_path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "#!/bin/bash\n%s", body);
	fclose(f);
	return chmod(hook_path, 0755);
}

/* Sets the configuration again (the hook, the mock DNS as the resolver, the wait) and makes the solver. */
static int configure(struct at_solver *s)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.hook = hook_path;
	cfg.wait.wait_s = wait_s;
	cfg.wait.server = "127.0.0.1";
	cfg.wait.server_port = dns_port;
	cfg.wait.server_label = "AUTOTLS_DNS_RESOLVER";
	at_log_set_level(AT_LOG_INFO); /* the manager's default (AUTOTLS_LOG_LEVEL): the checks read info lines */
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	return at_dns01_hook_solver(s, &cfg);
}

static const char good_hook[] =
	"set -eu\n"
	"echo \"$@\" >> \"$AUTOTLS_TEST_HOOK_CALLS\"\n"
	"case \"$1\" in\n"
	"add) curl -fsS -o /dev/null -X POST -d \"{\\\"host\\\":\\\"$2.\\\",\\\"value\\\":\\\"$3\\\"}\" "
	"\"$AUTOTLS_TEST_CHALL_URL/set-txt\" ;;\n"
	"del) curl -fsS -o /dev/null -X POST -d \"{\\\"host\\\":\\\"$2.\\\"}\" \"$AUTOTLS_TEST_CHALL_URL/clear-txt\" ;;\n"
	"*) echo \"unknown verb $1\" >&2; exit 2 ;;\n"
	"esac\n";

static void start(void)
{
	REQUIRE(issue_env_start(&env, NULL) == 0);
	snprintf(hook_path, sizeof(hook_path), "%s/dns-hook.sh", env.p.workdir);
	snprintf(calls_path, sizeof(calls_path), "%s/hook-calls", env.p.workdir);
	snprintf(log_path, sizeof(log_path), "%s/test-log", env.p.workdir);
	dns_port = env.p.dns_port;
	setenv("AUTOTLS_TEST_CHALL_URL", env.p.chall_mgmt_url, 1);
	setenv("AUTOTLS_TEST_HOOK_CALLS", calls_path, 1);
	REQUIRE(write_hook(good_hook) == 0);
	started = 1;
}

static void no_hook_no_solver(void)
{
	struct at_solver s;
	struct at_dns01_hook_config empty;
	struct at_dns01_rfc2136_config no_update;
	memset(&empty, 0, sizeof(empty));
	memset(&no_update, 0, sizeof(no_update));
	CHECK_INT(at_dns01_hook_solver(&s, &empty), ==, AT_E_STATE);
	CHECK_INT(at_dns01_rfc2136_solver(&s, &no_update), ==, AT_E_STATE);
}

static void issue_one_name(void)
{
	struct at_solver s;
	REQUIRE(started);
	REQUIRE(configure(&s) == 0);
	CHECK(s.type == AT_CHALLENGE_DNS_01);
	unlink(calls_path);
	const char *names[] = { "dns.example.test" };
	int ordered = 0;
	CHECK_OK(issue_env_issue(&env, &s, names, 1, &ordered));
	CHECK_INT(ordered, ==, 1);
	/* The hook was called as HOOK add <name> <value>, then HOOK del <name> <value>. */
	char *calls = harness_read_file(calls_path, NULL);
	CHECK(calls != NULL && strncmp(calls, "add _acme-challenge.dns.example.test ", 37) == 0);
	CHECK_INT(log_count_lines(calls, "add _acme-challenge.dns.example.test ", NULL), ==, 1);
	CHECK_INT(log_count_lines(calls, "del _acme-challenge.dns.example.test ", NULL), ==, 1);
	free(calls);
	/* And the record is gone. */
	int found = -1;
	CHECK_OK(at_dns_txt_has("127.0.0.1", env.p.dns_port, "_acme-challenge.dns.example.test", "x", 2000, &found));
	CHECK_INT(found, ==, 0);
}

static void issue_wildcard(void)
{
	struct at_solver s;
	REQUIRE(started);
	REQUIRE(configure(&s) == 0);
	unlink(calls_path);
	const char *names[] = { "*.wild.example.test", "wild.example.test" };
	CHECK_OK(issue_env_issue(&env, &s, names, 2, NULL));
	char *calls = harness_read_file(calls_path, NULL);
	/* One name, two values (the wildcard's and the base name's). */
	CHECK_INT(log_count_lines(calls, "add _acme-challenge.wild.example.test ", NULL), ==, 2);
	CHECK_INT(log_count_lines(calls, "del _acme-challenge.wild.example.test ", NULL), ==, 2);
	free(calls);
}

static void failing_hook(void)
{
	struct at_solver s;
	struct at_cert_record rec;
	int ordered = 0;
	REQUIRE(started);
	REQUIRE(write_hook("echo \"provider refused: bad API token\" >&2\necho second line >&2\nexit 3\n") == 0);
	REQUIRE(configure(&s) == 0);
	const char *names[] = { "fail.example.test" };
	log_capture_begin(log_path);
	int rc = at_engine_ensure(env.engine, names, 1, &s, 1, 0, &rec, &ordered);
	char *log = log_capture_end(log_path);
	CHECK(rc != 0);
	CHECK_INT(log_count_lines(log, "exit status 3: provider refused: bad API token", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "second line", NULL), ==, 0);
	free(log);
	if (rc == 0)
		at_cert_record_clear(&rec);
	REQUIRE(write_hook(good_hook) == 0);
}

/* The hook says yes but sets nothing: present() gives up after the configured wait and deletes. */
static void record_never_appears(void)
{
	struct at_solver s;
	REQUIRE(started);
	REQUIRE(write_hook("echo \"$@\" >> \"$AUTOTLS_TEST_HOOK_CALLS\"\nexit 0\n") == 0);
	wait_s = 1;
	REQUIRE(configure(&s) == 0);
	unlink(calls_path);
	struct at_challenge ch = { .type = AT_CHALLENGE_DNS_01, .identifier_type = "dns",
				   .identifier = "never.example.test",
				   .dns_txt_name = "_acme-challenge.never.example.test", .dns_txt_value = "v-never" };
	long t0 = at_clock_ms();
	log_capture_begin(log_path);
	int rc = s.present(s.ctx, &ch);
	char *log = log_capture_end(log_path);
	long took = at_clock_ms() - t0;
	CHECK_INT(rc, ==, AT_E_TIMEOUT);
	CHECK(took >= 1000 && took < 5000);
	CHECK_INT(log_count_lines(log, "_acme-challenge.never.example.test did not show the value", NULL), ==, 1);
	free(log);
	char *calls = harness_read_file(calls_path, NULL);
	CHECK(calls != NULL && strcmp(calls, "add _acme-challenge.never.example.test v-never\n"
					    "del _acme-challenge.never.example.test v-never\n") == 0);
	free(calls);
	wait_s = 20;
	REQUIRE(write_hook(good_hook) == 0);
}

int main(void)
{
	harness_solver_lock_hold(); /* as the manager thread: the solver releases it while it waits */
	RUN(start);
	RUN(no_hook_no_solver);
	RUN(issue_one_name);
	RUN(issue_wildcard);
	RUN(failing_hook);
	RUN(record_never_appears);
	issue_env_stop(&env);
	harness_solver_lock_drop();
	return TEST_EXIT();
}
