/*
 * nginx reload under the shim: once the managed name is served, nginx gets SIGHUP (as `nginx -s reload` sends)
 * while a client keeps making verified handshakes to it. The master rebuilds every context (the shim hooks the
 * new ones), forks new workers and lets the old ones finish: no handshake may fail, the new workers serve the
 * managed certificate (the same serial) and Pebble sees no new order (shim_reload.h).
 */
#include "tests/integ/shim_reload.h"

static struct shim_env env;
static int started, issued;

static void issues(void)
{
	REQUIRE(started);
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	issued = ms >= 0;
}

static void reload_under_load(void)
{
	REQUIRE(issued);
	shim_check_reload(&env);
	/* The unmanaged server block is untouched by the reload too. */
	shim_check_untouched(&env, SERVER_OTHER_NAME, SERVER_OTHER_CN, env.srv.other_serial);
}

static void log_hygiene(void)
{
	REQUIRE(started);
	shim_check_log(&env);
}

int main(void)
{
	started = shim_env_start(&env, SERVER_NGINX) == 0;
	RUN(issues);
	RUN(reload_under_load);
	RUN(log_hygiene);
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
	return TEST_EXIT();
}
