/*
 * The scenarios the real-server shim tests share (test_300 .. 370): one server under the shim (shim_env.h),
 * described by a struct shim_server, and the checks every one of them makes, each a test function named as the
 * PASS/FAIL line it prints. A test file includes this once, describes its server, calls shim_scenarios_start and
 * runs the scenarios that apply, in the order of SHIM_RUN_FOREGROUND_SCENARIOS or SHIM_RUN_DAEMON_SCENARIOS
 * (macros, like RUN, so the PASS/FAIL lines name the test's file), or RUNs them itself along with its own
 * checks, which see the server as `shim` and the state as shim_started / shim_issued.
 *
 *   starts_under_the_shim      the server came up; a first handshake to the managed name works (its serial is
 *                              kept); a daemon's main process leads its own process group
 *   issues_and_publishes       the managed name verifies against Pebble's root within SHIM_ISSUE_TIMEOUT_MS; the
 *                              log says hooked / obtained / published; before that the placeholder was served
 *   every_process_serves_it    20 handshakes in a row, all verified (whatever workers, children or threads meet
 *                              them); every_worker_serves_it is the same under nginx's name for it
 *   both_versions_verify       TLS 1.2 and 1.3 both verify
 *   alpn_h2_and_http11         the server's ALPN cases (shim_server.alpn) still negotiate as without the shim;
 *                              alpn_still_negotiates is the same for a server that offers only http/1.1
 *   unmanaged_names_untouched  other.test (when the server has it) and unmanaged.test keep the server's own
 *                              certificates; unmanaged_name_untouched is the same without other.test
 *   reload_under_load          the server's graceful reload under a stream of handshakes (shim_reload.h), then
 *                              shim_server.after_reload when set
 *   restart_reuses_the_store   a restart on the same store serves the stored certificate without a new order;
 *                              other.test (or, without it, unmanaged.test) still the server's own
 *   stop_leaves_nothing        a daemon's stop leaves nothing of its process group
 *   store_permissions          the store's modes and owners
 *   log_hygiene                the log's lines
 */
#ifndef AUTOTLS_TESTS_INTEG_SHIM_SCENARIOS_H
#define AUTOTLS_TESTS_INTEG_SHIM_SCENARIOS_H

#include "tests/integ/shim_reload.h"

#include <signal.h>

/* How the server runs, which decides what starts_under_the_shim and stop_leaves_nothing check. */
enum shim_process {
	SHIM_FOREGROUND,   /* the process we started serves (s_server, python): no daemon checks */
	SHIM_DAEMON_GROUP, /* detached; srv.pgid is its process group (> 1), and stop sweeps that group */
	SHIM_DAEMON_LEADER /* detached; the main process srv.pid leads its own group (getpgid(pid) == pid) */
};

/* One ALPN case: what the client offers, at which TLS version (0: any), and what the server must pick. */
struct shim_alpn_case {
	const char *offer;
	int version;
	const char *expect;
};

/* What nginx, Apache, HAProxy and lighttpd do with `h2, http/1.1` on the listener. */
#define SHIM_ALPN_H2_AND_HTTP11                                                                               \
	{"h2,http/1.1", 0, "h2"}, {"http/1.1", 0, "http/1.1"}, { "h2", TLS1_2_VERSION, "h2" }

#define SHIM_ALPN_MAX 4

struct shim_server {
	enum server_kind kind;
	enum shim_process process;
	int drops_root;        /* 1: server_keep_root = 0 (the server drops to its own user, as Debian ships it) */
	int has_other;         /* 1: other.test is served from its own configuration with SERVER_OTHER_CN */
	struct shim_alpn_case alpn[SHIM_ALPN_MAX]; /* the cases alpn_h2_and_http11 checks, up to an empty offer */
	int reload;            /* 1: SHIM_RUN_DAEMON_SCENARIOS runs reload_under_load (server_reload works) */
	void (*after_reload)(void);                /* extra checks at the end of reload_under_load, or NULL */
};

static struct shim_env shim;
static const struct shim_server *shim_desc;
static int shim_started, shim_issued;
static char shim_first_serial[80];

/* Starts the server of d under the shim. 1 when it is up (also kept in shim_started), else 0. */
static inline int shim_scenarios_start(const struct shim_server *d)
{
	shim_desc = d;
	if (d->drops_root)
		server_keep_root = 0;
	shim_started = shim_env_start(&shim, d->kind) == 0;
	return shim_started;
}

/* Dumps the server's and the shim's logs when a test has failed so far. */
static inline void shim_scenarios_dump_on_failure(void)
{
	if (test_failed_total)
		shim_env_dump(&shim);
}

static inline void starts_under_the_shim(void)
{
	struct tls_client_result r;

	CHECK(shim_started);
	if (!shim_started)
		return;
	/* What a client got at once: the server's placeholder, unless the shim was already done (then the managed
	 * certificate, checked in issues_and_publishes). */
	memset(&r, 0, sizeof(r));
	if (tls_client_connect(shim.port, SHIM_NAME, NULL, 0, NULL, NULL, &r) == 0)
		snprintf(shim_first_serial, sizeof(shim_first_serial), "%s", r.serial);
	CHECK(shim_first_serial[0] != '\0');
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

static inline void issues_and_publishes(void)
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
	CHECK(strcmp(shim_first_serial, shim.srv.serial) == 0 || strcmp(shim_first_serial, r.serial) == 0);
}

static inline void every_process_serves_it(void)
{
	int ok = 0;

	REQUIRE(shim_issued);
	for (int i = 0; i < 20; i++)
		ok += tls_client_connect(shim.port, SHIM_NAME, NULL, 0, shim.p.issuing_root_file, NULL, NULL) == 0;
	CHECK_INT(ok, ==, 20);
}

static inline void every_worker_serves_it(void)
{
	every_process_serves_it();
}

static inline void both_versions_verify(void)
{
	REQUIRE(shim_issued);
	shim_check_versions(&shim);
}

static inline void alpn_h2_and_http11(void)
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

static inline void alpn_still_negotiates(void)
{
	alpn_h2_and_http11();
}

static inline void unmanaged_names_untouched(void)
{
	REQUIRE(shim_started);
	if (shim_desc->has_other)
		shim_check_untouched(&shim, SERVER_OTHER_NAME, SERVER_OTHER_CN, shim.srv.other_serial);
	shim_check_untouched(&shim, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, shim.srv.serial);
}

static inline void unmanaged_name_untouched(void)
{
	unmanaged_names_untouched();
}

static inline void reload_under_load(void)
{
	REQUIRE(shim_issued);
	shim_check_reload(&shim);
	if (shim_desc->after_reload != NULL)
		shim_desc->after_reload();
}

static inline void restart_reuses_the_store(void)
{
	REQUIRE(shim_issued);
	shim_check_restart(&shim);
	if (shim_desc->has_other)
		shim_check_untouched(&shim, SERVER_OTHER_NAME, SERVER_OTHER_CN, shim.srv.other_serial);
	else
		shim_check_untouched(&shim, SHIM_UNMANAGED, SERVER_PLACEHOLDER_CN, shim.srv.serial);
}

static inline void stop_leaves_nothing(void)
{
	REQUIRE(shim_started);
	pid_t group = shim_desc->process == SHIM_DAEMON_LEADER ? shim.srv.pid : shim.srv.pgid;
	if (shim_desc->process != SHIM_DAEMON_LEADER)
		REQUIRE(group > 1);
	server_stop(&shim.srv);
	CHECK(kill(-group, 0) != 0 && errno == ESRCH);
}

static inline void store_permissions(void)
{
	REQUIRE(shim_issued);
	shim_check_store_perms(&shim);
}

static inline void log_hygiene(void)
{
	REQUIRE(shim_started);
	shim_check_log(&shim);
}

/* A foreground server's run (s_server, python): the scenarios, then its logs when something failed, and the
 * server and Pebble stopped. */
#define SHIM_RUN_FOREGROUND_SCENARIOS()                                                                       \
	do {                                                                                                  \
		RUN(starts_under_the_shim);                                                                   \
		RUN(issues_and_publishes);                                                                    \
		RUN(both_versions_verify);                                                                    \
		RUN(unmanaged_name_untouched);                                                                \
		RUN(alpn_still_negotiates);                                                                   \
		RUN(restart_reuses_the_store);                                                                \
		RUN(store_permissions);                                                                       \
		RUN(log_hygiene);                                                                             \
		shim_scenarios_dump_on_failure();                                                             \
		shim_env_stop(&shim);                                                                         \
	} while (0)

/* A daemon's run: alpn_h2_and_http11 when the server has ALPN cases, reload_under_load when it reloads, the logs
 * (when something failed) before the stop, which is itself a scenario. every_serves_it: every_process_serves_it,
 * or the name the test has always used for it. */
#define SHIM_RUN_DAEMON_SCENARIOS(every_serves_it)                                                            \
	do {                                                                                                  \
		RUN(starts_under_the_shim);                                                                   \
		RUN(issues_and_publishes);                                                                    \
		RUN(every_serves_it);                                                                         \
		RUN(both_versions_verify);                                                                    \
		if (shim_desc->alpn[0].offer != NULL)                                                         \
			RUN(alpn_h2_and_http11);                                                              \
		RUN(unmanaged_names_untouched);                                                               \
		if (shim_desc->reload)                                                                        \
			RUN(reload_under_load);                                                               \
		RUN(restart_reuses_the_store);                                                                \
		shim_scenarios_dump_on_failure();                                                             \
		RUN(stop_leaves_nothing);                                                                     \
		RUN(store_permissions);                                                                       \
		RUN(log_hygiene);                                                                             \
		shim_env_stop(&shim);                                                                         \
	} while (0)

#endif
