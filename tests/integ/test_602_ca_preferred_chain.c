/*
 * AUTOTLS_PREFERRED_CHAIN through the shim (issue 14, acceptance 3): a Pebble with one alternate root
 * (PEBBLE_ALTERNATE_ROOTS=1) offers two chains for every certificate (RFC 8555 section 7.4.2, Link
 * rel="alternate"), each ending at a root of its own name (/roots/0 and /roots/1 of its management API). With
 * the setting naming the alternate root, and again naming the default one, s_server under the shim serves the
 * chain of that root: a client that trusts only that root verifies the name, a client that trusts only the other
 * root does not.
 */
#include "tests/harness/pebble_roots.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static void serves_the_chain_of(int want)
{
	static char e_chain[400];
	struct pebble_opts o = { .alternate_roots = 1, .authz_reuse = -1 };
	struct shim_env env;
	struct tls_client_result r;
	char cn[2][256], file[2][PATH_MAX + 32], serial[80];

	/* The setting's buffer is filled once Pebble's roots are known, before the server starts. */
	snprintf(e_chain, sizeof(e_chain), "AUTOTLS_PREFERRED_CHAIN=unknown");
	shim_env_extra[0] = e_chain;
	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, &o) == 0;
	shim_env_extra[0] = NULL;
	ok = ok && pebble_root(&env.p, 0, file[0], sizeof(file[0]), cn[0], sizeof(cn[0])) == 0 &&
	     pebble_root(&env.p, 1, file[1], sizeof(file[1]), cn[1], sizeof(cn[1])) == 0;
	CHECK(ok);
	if (ok) {
		CHECK(strcmp(cn[0], cn[1]) != 0);
		snprintf(e_chain, sizeof(e_chain), "AUTOTLS_PREFERRED_CHAIN=%s", cn[want]);
		fprintf(stderr, "  roots: \"%s\" (default), \"%s\"; preferring \"%s\"\n", cn[0], cn[1], cn[want]);
		ok = shim_env_server_start(&env) == 0;
		CHECK(ok);
	}
	if (ok) {
		long ms = shim_wait_serial(&env, file[want], NULL, SHIM_ISSUE_TIMEOUT_MS, serial, sizeof(serial));
		CHECK(ms >= 0);
		fprintf(stderr, "  verified against \"%s\" alone %ld ms after the start\n", cn[want], ms);
		CHECK(strcmp(serial, env.srv.serial) != 0);
		/* The other root alone does not verify what is served. */
		CHECK_INT(shim_try(&env, file[!want], &r), ==, -1);
		CHECK_OK(shim_try(&env, NULL, &r));
		CHECK_STR(r.serial, serial);
		CHECK_INT(pebble_count_orders(&env.p), ==, 1);
		CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, 0);
		shim_check_log(&env);
	}
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

static void the_alternate_root(void)
{
	serves_the_chain_of(1);
}

static void the_default_root(void)
{
	serves_the_chain_of(0);
}

int main(void)
{
	RUN(the_alternate_root);
	RUN(the_default_root);
	return TEST_EXIT();
}
