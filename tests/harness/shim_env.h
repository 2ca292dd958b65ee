/*
 * The environment of a shim scenario (test_3xx, 4xx, 5xx): a Pebble whose tlsPort is the port the server under
 * test listens on, a folder for the server's config, the shim's store and its log, and the environment that
 * puts $BUILD/libautotls.so (or its copy: libcopy.h) under the server:
 *   LD_PRELOAD=<abs>/build/libautotls.so AUTOTLS_DOMAINS=a.example.test AUTOTLS_CA=<directory>
 *   AUTOTLS_CA_ROOTS=<Pebble's API root> AUTOTLS_STORAGE=<dir>/store AUTOTLS_LOG=<dir>/autotls.log
 *   AUTOTLS_LOG_LEVEL=debug AUTOTLS_HTTP_PORT=<Pebble's httpPort>
 * A fault scenario (shim_env_prepare_fault) starts Pebble from options of its own, starts the server apart (so
 * Pebble can be killed first), and adds AUTOTLS_TEST_BACKOFF_SCALE so that the manager's retries (1 min,
 * 10 min, 100 min, daily) come within seconds.
 *
 * What it owns: the knobs below, read by the next prepare (a test sets one, prepares, and sets it back).
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_ENV_H
#define AUTOTLS_TESTS_HARNESS_SHIM_ENV_H

#include "tests/harness/pebble.h"
#include "tests/harness/servers.h"

#include <limits.h>

#define SHIM_NAME "a.example.test"
#define SHIM_UNMANAGED "unmanaged.test"
#define SHIM_ISSUE_TIMEOUT_MS 30000
#define SHIM_RESTART_TIMEOUT_MS 2000
#define SHIM_POLL_MS 50

struct shim_env {
	struct pebble p;
	struct server srv;
	enum server_kind kind;
	int port;
	int pebble_started;
	char dir[256];         /* the server's folder (config, placeholders, store, log) */
	char lib[PATH_MAX];    /* absolute path of libautotls.so */
	char store[300];
	char log[300];
	char ca_roots[300];    /* a world-readable copy of Pebble's API root (workers may run as www-data) */
	char e_preload[2 * PATH_MAX + 16], e_domains[128], e_ca[200], e_roots[320], e_storage[320], e_log[320];
	char e_level[32], e_http[48], e_backoff[64];
	char e_asan[96], e_ubsan[96];
	char *envp[16];
	int orders_after_issue;
};

/* Pebble's certificateValidityPeriod for the next prepare (0: Pebble's default). */
extern long shim_env_validity_s;
/* AUTOTLS_DOMAINS for the next prepare (NULL: SHIM_NAME). */
extern const char *shim_env_domains;
/* Pebble's validation ports for the next prepare (0: tlsPort is the server's port, httpPort free). */
extern int shim_env_pebble_tls_port, shim_env_pebble_http_port;
/* Up to four more "NAME=value" settings for the server's environment (borrowed: they must outlive the env). */
extern const char *shim_env_extra[4];
/* Pebble's options for the next prepare (NULL: from the knobs above, authz_reuse -1); tlsPort is the server's
 * port all the same. */
extern const struct pebble_opts *shim_env_pebble_opts;
/* The preload the next prepare puts under the server (NULL: $BUILD/libautotls.so, or its copy when the build
 * folder is private: libcopy.h); an absolute path, e.g. an installed copy (test_700). */
extern const char *shim_env_lib;
/* The folder is <TMPDIR>/autotls-<tag>-<kind>-XXXXXX (NULL: "shim"). */
extern const char *shim_env_dir_tag;
/* AUTOTLS_TEST_BACKOFF_SCALE for the next shim_env_prepare_fault (0: not set): a divisor for the retry delays.
 * 60 unless a test changes it. */
extern long shim_env_backoff_scale;

/* What shim_env_start does but start the server: shim_env_server_start comes next (shim_env_start, or the
 * caller once it has done what comes before). 0, or -1 (and prints why); on -1 call shim_env_stop all the same. */
int shim_env_prepare(struct shim_env *e, enum server_kind kind);

/* shim_env_prepare, but Pebble from opts (NULL: defaults; tls_port is always the server's port), the folder
 * tagged "fault", and AUTOTLS_TEST_BACKOFF_SCALE=<shim_env_backoff_scale> added. 0 or -1, as there. */
int shim_env_prepare_fault(struct shim_env *e, enum server_kind kind, const struct pebble_opts *opts);

/* Starts the prepared server (server_start on e's folder, port and environment). 0 or -1, as there. */
int shim_env_server_start(struct shim_env *e);

/* Starts Pebble (tlsPort = a free port) and the server of kind on that port under the shim. 0 or -1 (and prints
 * why). On -1 call shim_env_stop all the same. */
int shim_env_start(struct shim_env *e, enum server_kind kind);

/* Stops the server and Pebble; removes the folder unless AUTOTLS_TEST_KEEP is set. */
void shim_env_stop(struct shim_env *e);

/* What a failing scenario prints: the server's output and the tail of the shim's log. */
void shim_env_dump(const struct shim_env *e);

/* The end of a test function that made its own e: dumps e when a check of this function failed
 * (test_failed_now), then stops it. */
void shim_env_finish(struct shim_env *e);

/* A main whose setup of e failed: prints "FAIL <file>:setup", dumps and stops e; returns 1, its exit status. */
int shim_env_setup_failed(struct shim_env *e, const char *file);

/* The end of a main that holds e across its test functions: dumps e when any check failed (test_failed_total),
 * stops it; returns the exit status (TEST_EXIT). */
int shim_env_exit(struct shim_env *e);

#endif
