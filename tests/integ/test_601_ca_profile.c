/*
 * AUTOTLS_PROFILE through the shim (issue 14): a profile is sent only when the CA lists it, and a CA that does
 * not list it gets no order. Debian's Pebble (2.4) lists no profiles (meta.profiles arrived in Pebble 2.7), so
 * the scenario here is the refusal: s_server under the shim with AUTOTLS_PROFILE=shortlived; each try is one
 * error naming AUTOTLS_PROFILE (and the profiles the CA offers: none), Pebble sees no order, the placeholder stays
 * in service. Without the setting, the same Pebble issues (test_300). That the profile is sent when listed is
 * the ACME client's (acme/obtain.c), tested against the scripted CA in test_acme_scripted.
 */
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

static void unlisted_profile_is_refused_before_any_order(void)
{
	static char e_profile[] = "AUTOTLS_PROFILE=shortlived";
	struct shim_env env;
	struct tls_client_result r;
	shim_env_extra[0] = e_profile;
	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, NULL) == 0;
	shim_env_extra[0] = NULL;
	ok = ok && shim_env_server_start(&env) == 0;
	CHECK(ok);
	if (ok) {
		long ms = shim_log_wait(&env, "] error:", "next try in", 2, 20000);
		CHECK(ms >= 0);
		shim_log_print(&env, "] error:", 4);
		int tries = shim_log_count(&env, "] error:", "next try in");
		int naming = shim_log_count(&env, "] error:", "AUTOTLS_PROFILE");
		fprintf(stderr, "  %d tries, %d error lines naming AUTOTLS_PROFILE\n", tries, naming);
		CHECK(naming == tries || naming == tries + 1);
		CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, naming + tries);
		CHECK_INT(shim_log_count(&env, "AUTOTLS_PROFILE=shortlived", "offers none"), >=, 1);
		memset(&r, 0, sizeof(r));
		CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r));
		CHECK_STR(r.serial, env.srv.serial);
		CHECK_INT(pebble_count_orders(&env.p), ==, 0);
		shim_check_log(&env);
	}
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

int main(void)
{
	RUN(unlisted_profile_is_refused_before_any_order);
	return TEST_EXIT();
}
