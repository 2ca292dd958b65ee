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
/*
 * KNOWN FAILURE (a shim limitation, found here; the shim was not changed): with `user haproxy` (as Debian ships
 * it) no certificate is ever obtained. What happens (shim log at debug, /proc): the first haproxy process (root)
 * builds the contexts, the shim hooks them and that process wins the election ("managing certificates in pid
 * A") -- then it forks the master and exits, so its lead ends before an order is placed. The master (root) gets
 * a fresh manager thread through pthread_atfork, which waits FORKED_WAIT_MS (1.5 s) before its first election;
 * before that it forks the worker and re-execs itself in wait mode (HAPROXY_MWORKER_WAIT_ONLY=1,
 * HAPROXY_MWORKER_REEXEC=1 in its environment): the new image parses no configuration, makes no server
 * context, so the shim never loads its manager there (only libautotls.so is mapped, no manager thread). The
 * worker runs as haproxy: it may neither lead nor read the root-owned 0700 store ("pid W (uid 102) can neither
 * lead nor read ... store"). No process is left that can lead, and the placeholder is served for good.
 * The scenario below (issues_with_the_worker_as_haproxy) asserts the expected behaviour and fails until the
 * shim covers it; every other scenario runs HAProxy without the user switch (server_keep_root), where the
 * worker stays root and leads.
 *
 * KNOWN FAILURE 2, reload_under_load (even with the worker as root): after SIGUSR2 the new worker serves
 * HAProxy's placeholder for ~1.8 s (78 of 169 handshakes failed, from ~0.14 s to ~1.9 s after the signal, each
 * time /CN=placeholder.test). The master re-execs, so the shim in it starts afresh and maps a new shared region
 * at its first server context; the new worker inherits that empty region, not the old worker's, and gets a
 * certificate only when it leads itself: FORKED_WAIT_MS (1.5 s) plus the 300 ms settle after the old worker
 * (-sf) lets go of the election lock, then "published ... from the store". Without the shim the same reload
 * loses no handshake (checked by hand: 120 s_client handshakes every 20 ms across SIGUSR2, none failed).
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

/* The Debian-style configuration, with the user switch: see KNOWN FAILURE above. */
static void issues_with_the_worker_as_haproxy(void)
{
	struct shim_env u;
	int ok;

	server_keep_root = 0;
	ok = shim_env_start(&u, SERVER_HAPROXY) == 0;
	CHECK(ok);
	if (ok) {
		long ms = shim_wait_verified(&u, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
		CHECK(ms >= 0);
		if (ms >= 0)
			shim_check_versions(&u);
	}
	if (test_failed_now)
		shim_env_dump(&u);
	shim_env_stop(&u);
}

int main(void)
{
	/* The main scenario without the user switch (see KNOWN FAILURE above). */
	server_keep_root = 1;
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
	RUN(issues_with_the_worker_as_haproxy);
	return TEST_EXIT();
}
