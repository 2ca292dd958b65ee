/*
 * The shim under HAProxy 2.6 in master-worker mode (`haproxy -W -D`): a root master that forks one worker (two
 * threads) as user haproxy; the bind has a crt-list (the placeholder as default, other.test by SNI) and
 * `alpn h2,http/1.1`, and HAProxy switches contexts in its client_hello callback (ssl_sock_switchctx_cbk ->
 * SSL_set_SSL_CTX). The managed name gets a Pebble certificate through TLS-ALPN-01 on HAProxy's own port,
 * served over TLS 1.2 and 1.3 with h2 and http/1.1 still negotiated; other.test and a name HAProxy does not
 * know keep HAProxy's certificates; a master-worker reload (SIGUSR2: the master re-execs) under a stream of
 * handshakes loses none and the new worker serves the managed certificate; a restart on the same store serves
 * the stored certificate at once without a new order; the store's permissions and the log's hygiene hold.
 */
#include "tests/integ/shim_reload.h"

#include <signal.h>

static struct shim_env env;
static int started, issued;
static char first_serial[80];

static void starts_under_the_shim(void)
{
	struct tls_client_result r;

	CHECK(started);
	if (!started)
		return;
	/* What a client got at once: the placeholder, unless the shim was already done (then the managed
	 * certificate, checked in issues_and_publishes). */
	memset(&r, 0, sizeof(r));
	if (tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r) == 0)
		snprintf(first_serial, sizeof(first_serial), "%s", r.serial);
	CHECK(first_serial[0] != '\0');
	/* Daemonised: the main process is not the one we started, and its process group is its own. */
	CHECK(env.srv.pid > 0);
	CHECK(env.srv.pgid > 1);
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
	fprintf(stderr, "  haproxy: %s verified after %ld ms\n", SHIM_NAME, ms);
	CHECK(shim_log_has(&env, "hooked server SSL_CTX"));
	CHECK(shim_log_has(&env, "obtained a certificate for " SHIM_NAME));
	CHECK(shim_log_has(&env, "published"));
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, &r));
	CHECK(strcmp(first_serial, env.srv.serial) == 0 || strcmp(first_serial, r.serial) == 0);
}

/* The worker runs two threads on the listener: every handshake verified. */
static void every_process_serves_it(void)
{
	int ok = 0;

	REQUIRE(issued);
	for (int i = 0; i < 20; i++)
		ok += tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, NULL) == 0;
	CHECK_INT(ok, ==, 20);
}

static void both_versions_verify(void)
{
	REQUIRE(issued);
	shim_check_versions(&env);
}

static void alpn_h2_and_http11(void)
{
	struct tls_client_result r;

	REQUIRE(issued);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, "h2,http/1.1", 0, env.p.issuing_root_file, NULL, &r));
	CHECK_STR(r.alpn, "h2");
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, "http/1.1", 0, env.p.issuing_root_file, NULL, &r));
	CHECK_STR(r.alpn, "http/1.1");
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, "h2", TLS1_2_VERSION, env.p.issuing_root_file, NULL, &r));
	CHECK_STR(r.alpn, "h2");
}

static void unmanaged_names_untouched(void)
{
	REQUIRE(started);
	/* other.test: its own crt-list entry's certificate; unmanaged.test: the default one's. */
	shim_check_untouched(&env, SERVER_OTHER_NAME, SERVER_OTHER_CN, env.srv.other_serial);
	shim_check_untouched(&env, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, env.srv.serial);
}

/* HAProxy master-worker reload (SIGUSR2 to the master): the master re-execs itself (the shim is loaded
 * afresh from LD_PRELOAD), re-parses, starts a new worker and tells the old one to finish (-sf). */
static void reload_under_load(void)
{
	REQUIRE(issued);
	shim_check_reload(&env);
}

static void restart_reuses_the_store(void)
{
	REQUIRE(issued);
	shim_check_restart(&env);
	shim_check_untouched(&env, SERVER_OTHER_NAME, SERVER_OTHER_CN, env.srv.other_serial);
}

static void stop_leaves_nothing(void)
{
	REQUIRE(started);
	pid_t pgid = env.srv.pgid;
	REQUIRE(pgid > 1);
	server_stop(&env.srv);
	CHECK(kill(-pgid, 0) != 0 && errno == ESRCH);
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
	/* As Debian ships it: the server drops to its own user after making its contexts. */
	server_keep_root = 0;
	started = shim_env_start(&env, SERVER_HAPROXY) == 0;
	RUN(starts_under_the_shim);
	RUN(issues_and_publishes);
	RUN(every_process_serves_it);
	RUN(both_versions_verify);
	RUN(alpn_h2_and_http11);
	RUN(unmanaged_names_untouched);
	RUN(reload_under_load);
	RUN(restart_reuses_the_store);
	if (test_failed_total)
		shim_env_dump(&env);
	RUN(stop_leaves_nothing);
	RUN(store_permissions);
	RUN(log_hygiene);
	shim_env_stop(&env);
	return TEST_EXIT();
}
