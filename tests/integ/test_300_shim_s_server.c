/*
 * The shim under `openssl s_server` (one process, SSL_CTX_new_ex, -www, -alpn h2,http/1.1): the managed name
 * gets a Pebble certificate through TLS-ALPN-01 answered on s_server's own port, served over TLS 1.2 and 1.3;
 * another name keeps s_server's placeholder; a restart on the same store serves the stored certificate at once
 * without a new order; the store's permissions and the log's hygiene hold.
 */
#include "tests/integ/shim_env.h"

static struct shim_env env;
static int started, issued;
static char first_serial[80];

static void starts_under_the_shim(void)
{
	struct tls_client_result r;

	CHECK(started);
	if (!started)
		return;
	/* What a client got at once: s_server's placeholder, unless the shim was already done (then the managed
	 * certificate, checked in issues_and_publishes). */
	memset(&r, 0, sizeof(r));
	if (tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r) == 0)
		snprintf(first_serial, sizeof(first_serial), "%s", r.serial);
	CHECK(first_serial[0] != '\0');
}

static void issues_and_publishes(void)
{
	struct tls_client_result r;

	REQUIRE(started);
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	issued = 1;
	fprintf(stderr, "  s_server: %s verified after %ld ms\n", SHIM_NAME, ms);
	CHECK(shim_log_has(&env, "hooked server SSL_CTX"));
	CHECK(shim_log_has(&env, "obtained a certificate for " SHIM_NAME));
	CHECK(shim_log_has(&env, "published"));
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, &r));
	CHECK(strcmp(first_serial, env.srv.serial) == 0 || strcmp(first_serial, r.serial) == 0);
}

static void both_versions_verify(void)
{
	REQUIRE(issued);
	shim_check_versions(&env);
}

static void unmanaged_name_untouched(void)
{
	REQUIRE(started);
	shim_check_untouched(&env, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, env.srv.serial);
}

static void alpn_still_negotiates(void)
{
	struct tls_client_result r;

	REQUIRE(issued);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, "http/1.1", 0, env.p.issuing_root_file, NULL, &r));
	CHECK_STR(r.alpn, "http/1.1");
}

static void restart_reuses_the_store(void)
{
	REQUIRE(issued);
	shim_check_restart(&env);
	shim_check_untouched(&env, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, env.srv.serial);
}

static void store_permissions(void)
{
	REQUIRE(issued);
	shim_check_store_perms(&env);
}

static void log_hygiene(void)
{
	REQUIRE(started);
	shim_check_log(&env);
}

int main(void)
{
	started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	RUN(starts_under_the_shim);
	RUN(issues_and_publishes);
	RUN(both_versions_verify);
	RUN(unmanaged_name_untouched);
	RUN(alpn_still_negotiates);
	RUN(restart_reuses_the_store);
	RUN(store_permissions);
	RUN(log_hygiene);
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
	return TEST_EXIT();
}
