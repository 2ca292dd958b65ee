/*
 * The scenarios the real-server shim tests share (test_300 .. 370): one server under the shim (shim_env.h),
 * described by a struct shim_server, and the checks every one of them makes, each a test function named as the
 * PASS/FAIL line it prints (the function is shim_scenario_<name>). A test file describes its server, calls
 * shim_scenarios_start and runs the scenarios that apply, in the order of SHIM_RUN_FOREGROUND_SCENARIOS or
 * SHIM_RUN_DAEMON_SCENARIOS, or runs them one by one with SHIM_RUN(name) along with its own checks, which see
 * the server as `shim` and the state as shim_started / shim_issued. The runners are macros, like RUN, so that
 * the PASS/FAIL lines name the test's file.
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
 *
 * What it owns: the one server of the test binary (shim) and its state, set by the scenarios as they run.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_SCENARIOS_H
#define AUTOTLS_TESTS_HARNESS_SHIM_SCENARIOS_H

#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <openssl/ssl.h>

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

/* The server under test, its description, and how far it got (1: started / issued and verified). */
extern struct shim_env shim;
extern const struct shim_server *shim_desc;
extern int shim_started, shim_issued;

/* Starts the server of d under the shim (d is borrowed for the rest of the run). 1 when it is up (also kept in
 * shim_started), else 0. */
int shim_scenarios_start(const struct shim_server *d);

/* Dumps the server's and the shim's logs when a test has failed so far. */
void shim_scenarios_dump_on_failure(void);

/* The scenarios, one test function each (see above). */
void shim_scenario_starts_under_the_shim(void);
void shim_scenario_issues_and_publishes(void);
void shim_scenario_every_process_serves_it(void);
void shim_scenario_both_versions_verify(void);
void shim_scenario_alpn_h2_and_http11(void);
void shim_scenario_unmanaged_names_untouched(void);
void shim_scenario_reload_under_load(void);
void shim_scenario_restart_reuses_the_store(void);
void shim_scenario_stop_leaves_nothing(void);
void shim_scenario_store_permissions(void);
void shim_scenario_log_hygiene(void);

/* Runs the scenario name (shim_scenario_<name>) and prints its line as name. */
#define SHIM_RUN(name) RUN_AS(shim_scenario_##name, #name)

/* A foreground server's run (s_server, python): the scenarios, then its logs when something failed, and the
 * server and Pebble stopped. Its unmanaged name has no other.test beside it, and its ALPN offers http/1.1 only:
 * the lines say so. */
#define SHIM_RUN_FOREGROUND_SCENARIOS()                                                                       \
	do {                                                                                                  \
		SHIM_RUN(starts_under_the_shim);                                                              \
		SHIM_RUN(issues_and_publishes);                                                               \
		SHIM_RUN(both_versions_verify);                                                               \
		RUN_AS(shim_scenario_unmanaged_names_untouched, "unmanaged_name_untouched");                  \
		RUN_AS(shim_scenario_alpn_h2_and_http11, "alpn_still_negotiates");                            \
		SHIM_RUN(restart_reuses_the_store);                                                           \
		SHIM_RUN(store_permissions);                                                                  \
		SHIM_RUN(log_hygiene);                                                                        \
		shim_scenarios_dump_on_failure();                                                             \
		shim_env_stop(&shim);                                                                         \
	} while (0)

/* A daemon's run: alpn_h2_and_http11 when the server has ALPN cases, reload_under_load when it reloads, the logs
 * (when something failed) before the stop, which is itself a scenario. every_serves_it: every_process_serves_it,
 * or the name the test has always used for it (every_worker_serves_it). */
#define SHIM_RUN_DAEMON_SCENARIOS(every_serves_it)                                                            \
	do {                                                                                                  \
		SHIM_RUN(starts_under_the_shim);                                                              \
		SHIM_RUN(issues_and_publishes);                                                               \
		RUN_AS(shim_scenario_every_process_serves_it, #every_serves_it);                              \
		SHIM_RUN(both_versions_verify);                                                               \
		if (shim_desc->alpn[0].offer != NULL)                                                         \
			SHIM_RUN(alpn_h2_and_http11);                                                         \
		SHIM_RUN(unmanaged_names_untouched);                                                          \
		if (shim_desc->reload)                                                                        \
			SHIM_RUN(reload_under_load);                                                          \
		SHIM_RUN(restart_reuses_the_store);                                                           \
		shim_scenarios_dump_on_failure();                                                             \
		SHIM_RUN(stop_leaves_nothing);                                                                \
		SHIM_RUN(store_permissions);                                                                  \
		SHIM_RUN(log_hygiene);                                                                        \
		shim_env_stop(&shim);                                                                         \
	} while (0)

#endif
