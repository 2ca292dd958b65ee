/*
 * The shim scenarios the real-server tests share (see shim_scenarios.h).
 *
 * What it owns: the server under test (shim) and the scenarios' state (shim_desc, shim_started, shim_issued, the
 * first serial served); one server per test binary, driven from its main thread.
 */
#include "tests/harness/shim_scenarios.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/shim_reload.h"
#include "tests/harness/tlsverify.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct shim_env shim;
const struct shim_server *shim_desc;
int shim_started, shim_issued;
/* What a client got at the very start: the placeholder, unless the shim was already done. */
static char first_serial[80];

int shim_scenarios_start(const struct shim_server *d)
{
	shim_desc = d;
	if (d->drops_root)
		server_keep_root = 0;
	shim_started = shim_env_start(&shim, d->kind) == 0;
	return shim_started;
}

void shim_scenarios_dump_on_failure(void)
{
	if (test_failed_total)
		shim_env_dump(&shim);
}

void shim_scenario_starts_under_the_shim(void)
{
	struct tls_client_result r;

	CHECK(shim_started);
	if (!shim_started)
		return;
	/* What a client got at once: the server's placeholder, unless the shim was already done (then the managed
	 * certificate, checked in issues_and_publishes). */
	memset(&r, 0, sizeof(r));
	if (tls_client_connect(shim.port, SHIM_NAME, NULL, 0, NULL, NULL, &r) == 0)
		snprintf(first_serial, sizeof(first_serial), "%s", r.serial);
	CHECK(first_serial[0] != '\0');
	if (shim_desc->process == SHIM_DAEMON_LEADER) {
		/* Daemonised: the master is not the process we started, and it leads its own process group. */
		CHECK(shim.srv.pid > 0);
		CHECK_INT(getpgid(shim.srv.pid), ==, shim.srv.pid);
	} else if (shim_desc->process == SHIM_DAEMON_GROUP) {
		/* Daemonised: the main process is not the one we started, and its process group is its own. */
		CHECK(shim.srv.pid > 0);
		CHECK(shim.srv.pgid > 1);
	}
}

void shim_scenario_issues_and_publishes(void)
{
	struct tls_client_result r;

	REQUIRE(shim_started);
	long ms = shim_wait_verified(&shim, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	shim_issued = 1;
	fprintf(stderr, "  %s: %s verified after %ld ms\n", server_kind_name(shim_desc->kind), SHIM_NAME, ms);
	CHECK(shim_log_has(&shim, "hooked server SSL_CTX"));
	CHECK(shim_log_has(&shim, "obtained a certificate for " SHIM_NAME));
	CHECK(shim_log_has(&shim, "published"));
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(shim.port, SHIM_NAME, NULL, 0, shim.p.issuing_root_file, NULL, &r));
	/* Before issuance the placeholder was served (or, if the shim was that quick, the managed one). */
	CHECK(strcmp(first_serial, shim.srv.serial) == 0 || strcmp(first_serial, r.serial) == 0);
}

void shim_scenario_every_process_serves_it(void)
{
	int ok = 0;

	REQUIRE(shim_issued);
	for (int i = 0; i < 20; i++)
		ok += tls_client_connect(shim.port, SHIM_NAME, NULL, 0, shim.p.issuing_root_file, NULL, NULL) == 0;
	CHECK_INT(ok, ==, 20);
}

void shim_scenario_both_versions_verify(void)
{
	REQUIRE(shim_issued);
	shim_check_versions(&shim);
}

void shim_scenario_alpn_h2_and_http11(void)
{
	struct tls_client_result r;

	REQUIRE(shim_issued);
	for (int i = 0; i < SHIM_ALPN_MAX && shim_desc->alpn[i].offer != NULL; i++) {
		const struct shim_alpn_case *a = &shim_desc->alpn[i];
		memset(&r, 0, sizeof(r));
		CHECK_OK(tls_client_connect(shim.port, SHIM_NAME, a->offer, a->version, shim.p.issuing_root_file, NULL,
					    &r));
		CHECK_STR(r.alpn, a->expect);
	}
}

void shim_scenario_unmanaged_names_untouched(void)
{
	REQUIRE(shim_started);
	if (shim_desc->has_other)
		shim_check_untouched(&shim, SERVER_OTHER_NAME, SERVER_OTHER_CN, shim.srv.other_serial);
	shim_check_untouched(&shim, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, shim.srv.serial);
}

void shim_scenario_reload_under_load(void)
{
	REQUIRE(shim_issued);
	shim_check_reload(&shim);
	if (shim_desc->after_reload != NULL)
		shim_desc->after_reload();
}

void shim_scenario_restart_reuses_the_store(void)
{
	REQUIRE(shim_issued);
	shim_check_restart(&shim);
	if (shim_desc->has_other)
		shim_check_untouched(&shim, SERVER_OTHER_NAME, SERVER_OTHER_CN, shim.srv.other_serial);
	else
		shim_check_untouched(&shim, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, shim.srv.serial);
}

void shim_scenario_stop_leaves_nothing(void)
{
	REQUIRE(shim_started);
	pid_t group = shim_desc->process == SHIM_DAEMON_LEADER ? shim.srv.pid : shim.srv.pgid;
	if (shim_desc->process != SHIM_DAEMON_LEADER)
		REQUIRE(group > 1);
	server_stop(&shim.srv);
	CHECK(kill(-group, 0) != 0 && errno == ESRCH);
}

void shim_scenario_store_permissions(void)
{
	REQUIRE(shim_issued);
	shim_check_store_perms(&shim);
}

void shim_scenario_log_hygiene(void)
{
	REQUIRE(shim_started);
	shim_check_log(&shim);
}
