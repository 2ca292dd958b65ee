/*
 * The environment of the engine's issuance scenarios (test_1xx, and the DNS-01 ones of test_52x): a Pebble, a
 * fresh store in its folder, the three responders on Pebble's validation ports, and an engine; plus the check
 * every scenario ends with (a verified handshake against Pebble's issuing root for every name, exactly the
 * names, the key matching).
 */
#ifndef AUTOTLS_TESTS_HARNESS_ISSUE_ENV_H
#define AUTOTLS_TESTS_HARNESS_ISSUE_ENV_H

#include "acme/solver.h"
#include "engine/engine.h"
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/pebble.h"
#include "tests/harness/responders.h"
#include "util/keys.h"

#include <limits.h>
#include <stddef.h>

struct issue_env {
	struct pebble p;
	char store_dir[PATH_MAX + 16];
	struct at_store *store;
	struct responder *alpn, *http, *dns;
	struct at_solver s_alpn, s_http, s_dns;
	struct at_engine *engine;
	int started;
};

/* Replaces env's engine with a new one for Pebble and env's store: certificate keys kt, an EAB pair (both NULL:
 * none). 0 or an at_err code. */
int issue_env_engine(struct issue_env *env, enum at_key_type kt, const char *eab_kid, const char *eab_key);

/* Starts Pebble (opts may be NULL), opens the store, starts the responders and makes a P-256 engine. 0, or -1 /
 * an at_err code; call issue_env_stop all the same. AUTOTLS_TEST_DEBUG set: the library logs at debug level. */
int issue_env_start(struct issue_env *env, const struct pebble_opts *opts);

/* Frees and stops all of it; env is zeroed. Safe on a failed start. */
void issue_env_stop(struct issue_env *env);

/* issue_env_start for a test's main(): when it fails, prints the "FAIL <file>:setup" line tests/run.sh counts
 * (file: the test's __FILE__), stops what did start and returns -1. 0 on success. */
int issue_env_setup(struct issue_env *env, const struct pebble_opts *opts, const char *file);

/* The user's check: every name handshakes and verifies against Pebble's root (a wildcard with a name it
 * covers), a name not ordered does not, and the SANs are exactly names. 0, or -1 with the reasons printed. */
int issue_env_verify(struct issue_env *env, const struct at_cert_record *rec, const char *const *names, size_t n);

/* Issues for names through solver (a fresh order) and verifies (issue_env_verify); *ordered (may be NULL) as
 * at_engine_ensure sets it. 0 or -1 (with the CA's problem printed). */
int issue_env_issue(struct issue_env *env, const struct at_solver *solver, const char *const *names, size_t n,
		    int *ordered);

#endif
