/*
 * AUTOTLS_CA as an ordered list (issue 14, acceptance 2): two Pebbles, both validating on the server's port
 * (TLS-ALPN-01) and the shim's HTTP-01 port, AUTOTLS_CA=<first>,<second>, AUTOTLS_CA_ROOTS trusting both APIs,
 * 16-second certificates.
 *   - the first Pebble stopped before the server starts: the certificate comes from the second (verified against
 *     its root), and the log names both: the first passed over (and why), the second as the issuer;
 *   - the first started again: the next renewal (due after ~8 s) starts again from the first, and the
 *     certificate then served verifies against the first Pebble's (new) root.
 * Each CA has its own account in the store (accounts/<ca>/...). A restart with both Pebbles down serves the
 * stored certificate at once.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VALIDITY_S 16

static struct shim_env env;
static struct pebble second;
static int ready, from_second, from_first;
static char serial_second[80];

/* Appends the file at from to the file at to. 0 or -1. */
static int append_file(const char *from, const char *to)
{
	size_t len = 0;
	char *text = harness_read_file(from, &len);
	FILE *f = text ? fopen(to, "ae") : NULL;
	int rc = f != NULL && fwrite(text, 1, len, f) == len ? 0 : -1;
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	free(text);
	return rc;
}

static void setup(void)
{
	struct pebble_opts o1 = { .authz_reuse = -1, .validity_s = VALIDITY_S };
	REQUIRE(shim_env_prepare_fault(&env, SERVER_S_SERVER, &o1) == 0);
	/* The second Pebble validates where the first does: the server's port and the shim's HTTP-01 port. */
	struct pebble_opts o2 = { .authz_reuse = -1, .validity_s = VALIDITY_S, .tls_port = env.port,
				  .http_port = env.p.http_port };
	REQUIRE(pebble_start(&second, &o2) == 0);
	REQUIRE(append_file(second.api_root_file, env.ca_roots) == 0);
	/* AUTOTLS_CA: both, the first first (in place of the harness's one-URL setting). */
	static char e_ca[300];
	snprintf(e_ca, sizeof(e_ca), "AUTOTLS_CA=%s,%s", env.p.directory_url, second.directory_url);
	int k = 0;
	while (env.envp[k] != NULL && env.envp[k] != env.e_ca)
		k++;
	REQUIRE(env.envp[k] == env.e_ca);
	env.envp[k] = e_ca;
	fprintf(stderr, "  %s\n", e_ca);
	ready = 1;
}

static void second_issues_while_the_first_is_down(void)
{
	REQUIRE(ready);
	CHECK_OK(pebble_kill(&env.p));
	REQUIRE(shim_env_server_start(&env) == 0);
	long ms = shim_wait_serial(&env, second.issuing_root_file, NULL, SHIM_ISSUE_TIMEOUT_MS, serial_second,
				   sizeof(serial_second));
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	from_second = 1;
	fprintf(stderr, "  verified against the second Pebble's root %ld ms after the start\n", ms);
	CHECK(strcmp(serial_second, env.srv.serial) != 0);
	CHECK_INT(pebble_count_orders(&second), ==, 1);
	/* The log names both: why the first was passed over, and who issued. */
	shim_log_print(&env, "AUTOTLS_CA", 4);
	shim_log_print(&env, "passed over", 2);
	CHECK(shim_log_count(&env, "could not issue", env.p.directory_url) >= 1);
	CHECK_INT(shim_log_count(&env, "was issued by", second.directory_url), ==, 1);
	CHECK_INT(shim_log_count(&env, "was passed over", env.p.directory_url), ==, 1);
	/* Not an error: the certificate came. */
	CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, 0);
}

static void renewal_starts_again_from_the_first(void)
{
	char serial[80];
	REQUIRE(from_second);
	REQUIRE(pebble_restart(&env.p) == 0);
	long t0 = harness_now_ms();
	/* Due at half the lifetime (8 s; the jitter, a twentieth of the lifetime, is under a second: none). */
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, serial_second, 2 * VALIDITY_S * 1000, serial,
				   sizeof(serial));
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  renewed from the first Pebble %ld ms after it came back\n", harness_now_ms() - t0);
	CHECK_INT(pebble_count_orders(&env.p), >=, 1);
	/* The second Pebble saw no other order: the renewal went to the first. */
	CHECK_INT(pebble_count_orders(&second), ==, 1);
	CHECK_INT(shim_log_count(&env, "was issued by", env.p.directory_url), ==, 1);
	CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, 0);
	/* Each CA an account of its own. */
	char path[400];
	int accounts = 0;
	snprintf(path, sizeof(path), "%s/accounts", env.store);
	DIR *d = opendir(path);
	for (struct dirent *de; d && (de = readdir(d)) != NULL;)
		accounts += de->d_name[0] != '.';
	if (d)
		closedir(d);
	CHECK_INT(accounts, ==, 2);
	shim_check_log(&env);
	from_first = 1;
}

/* A restart with every CA of the list down serves the stored certificate (not yet due) at once: the newest
 * record of any CA is taken without asking one. */
static void restart_with_every_ca_down_serves_the_store(void)
{
	char serial[80];
	struct tls_client_result r;
	REQUIRE(from_first);
	CHECK_OK(shim_try(&env, env.p.issuing_root_file, &r));
	snprintf(serial, sizeof(serial), "%s", r.serial);
	server_stop(&env.srv);
	CHECK_OK(pebble_kill(&env.p));
	CHECK_OK(pebble_kill(&second));
	long t0 = harness_now_ms();
	REQUIRE(shim_env_server_start(&env) == 0);
	char now[80];
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, SHIM_RESTART_TIMEOUT_MS, now, sizeof(now));
	CHECK(ms >= 0);
	CHECK_STR(now, serial);
	fprintf(stderr, "  the stored certificate served %ld ms after the restart, both CAs down\n", harness_now_ms() - t0);
	CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, 0);
}

int main(void)
{
	RUN(setup);
	RUN(second_issues_while_the_first_is_down);
	RUN(renewal_starts_again_from_the_first);
	RUN(restart_with_every_ca_down_serves_the_store);
	if (test_failed_total)
		shim_env_dump(&env);
	pebble_stop(&second);
	shim_env_stop(&env);
	return TEST_EXIT();
}
