/*
 * nginx reload under the shim: once the managed name is served, nginx gets SIGHUP (as `nginx -s reload` sends)
 * while a client keeps making verified handshakes to it. The master rebuilds every context (the shim hooks the
 * new ones), forks new workers and lets the old ones finish: no handshake may fail, the new workers serve the
 * managed certificate (the same serial) and Pebble sees no new order (tests/harness/shim_reload.h).
 */
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_scenarios.h"

static void other_untouched(void);

static const struct shim_server nginx = {
	.kind = SERVER_NGINX,
	.process = SHIM_DAEMON_LEADER,
	.has_other = 1,
	.alpn = {SHIM_ALPN_H2_AND_HTTP11},
	.after_reload = other_untouched,
};

/* The unmanaged server block is untouched by the reload too. */
static void other_untouched(void)
{
	shim_check_untouched(&shim, SERVER_OTHER_NAME, SERVER_OTHER_CN, shim.srv.other_serial);
}

static void issues(void)
{
	REQUIRE(shim_started);
	long ms = shim_wait_verified(&shim, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	shim_issued = ms >= 0;
}

int main(void)
{
	shim_scenarios_start(&nginx);
	RUN(issues);
	SHIM_RUN(reload_under_load);
	SHIM_RUN(log_hygiene);
	shim_scenarios_dump_on_failure();
	shim_env_stop(&shim);
	return TEST_EXIT();
}
