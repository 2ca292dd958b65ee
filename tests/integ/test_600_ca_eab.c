/*
 * External Account Binding through the shim (issue 14, acceptance 1): a Pebble that requires EAB
 * (externalAccountBindingRequired, the harness's key pair) and openssl s_server under the shim.
 *   - with the right AUTOTLS_EAB_KID and AUTOTLS_EAB_HMAC_KEY the managed name is issued, and a client that trusts
 *     only Pebble's root verifies the chain and the name;
 *   - without them, with a wrong HMAC key, and with a key ID the CA does not know: each try is one error naming the setting, the placeholder stays
 *     in service, Pebble sees no order;
 *   - no line of the shim's log holds the HMAC key (nor the wrong one), nor the key ID, nor any base64 blob.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

#define WRONG_HMAC "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH"

static char e_kid[64] = "AUTOTLS_EAB_KID=" PEBBLE_EAB_KID;
static char e_right[128] = "AUTOTLS_EAB_HMAC_KEY=" PEBBLE_EAB_HMAC;
static char e_wrong[128] = "AUTOTLS_EAB_HMAC_KEY=" WRONG_HMAC;
static char e_unknown_kid[64] = "AUTOTLS_EAB_KID=kid-unknown-4711";

/* Starts Pebble (EAB required) and s_server under the shim with kid/key (NULL: unset). 0 or -1. */
static int start(struct shim_env *env, const char *kid, const char *key)
{
	struct pebble_opts o = { .eab_required = 1, .authz_reuse = -1 };
	shim_env_extra[0] = kid;
	shim_env_extra[1] = key;
	int rc = shim_env_prepare_fault(env, SERVER_S_SERVER, &o);
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	if (rc == 0)
		rc = shim_env_server_start(env);
	return rc;
}

/* Neither HMAC key, right or wrong, is in the shim's log; nor any base64 blob (shim_check_log). */
static void no_secret_logged(const struct shim_env *env)
{
	CHECK_INT(shim_log_count(env, PEBBLE_EAB_HMAC, NULL), ==, 0);
	CHECK_INT(shim_log_count(env, WRONG_HMAC, NULL), ==, 0);
	/* and no part of them either */
	CHECK_INT(shim_log_count(env, "zWNDZM6eQGHW", NULL), ==, 0);
	CHECK_INT(shim_log_count(env, "b10lLJs8l1GP", NULL), ==, 0);
	CHECK_INT(shim_log_count(env, "kid-unknown-4711", NULL), ==, 0);
	shim_check_log(env);
}

static void issues_with_the_right_key(void)
{
	struct shim_env env;
	int ok = start(&env, e_kid, e_right) == 0;
	CHECK(ok);
	if (ok) {
		long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
		CHECK(ms >= 0);
		fprintf(stderr, "  issued and verified against Pebble's root %ld ms after the start\n", ms);
		shim_check_versions(&env);
		CHECK_INT(pebble_count_orders(&env.p), ==, 1);
		CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, 0);
		no_secret_logged(&env);
	}
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

/* A try refused for want of the right EAB: one error naming setting per try, the placeholder, no order. */
static void refused(const char *kid, const char *key, const char *setting)
{
	struct shim_env env;
	struct tls_client_result r;
	int ok = start(&env, kid, key) == 0;
	CHECK(ok);
	if (ok) {
		/* Two tries (the back-off's first step is 1 s at this scale), each one clear error. */
		long ms = shim_log_wait(&env, "error:", "next try in", 2, 20000);
		CHECK(ms >= 0);
		shim_log_print(&env, "error:", 6);
		int tries = shim_log_count(&env, "error:", "next try in");
		int naming = shim_log_count(&env, "error:", setting);
		fprintf(stderr, "  %d tries, %d error lines naming %s\n", tries, naming, setting);
		CHECK(naming >= 1);
		/* one per try (the try in progress may have logged its line, not yet its summary) */
		CHECK(naming == tries || naming == tries + 1);
		/* no other error than the one naming the setting and the try's summary */
		CHECK_INT(shim_log_count(&env, "] error:", NULL), ==, naming + tries);
		memset(&r, 0, sizeof(r));
		CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r));
		CHECK_STR(r.serial, env.srv.serial);
		CHECK_INT(pebble_count_orders(&env.p), ==, 0);
		no_secret_logged(&env);
	}
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

static void refused_without_eab(void)
{
	refused(NULL, NULL, "AUTOTLS_EAB_KID");
}

static void refused_with_a_wrong_key(void)
{
	refused(e_kid, e_wrong, "AUTOTLS_EAB_HMAC_KEY");
}

static void refused_with_an_unknown_kid(void)
{
	refused(e_unknown_kid, e_right, "AUTOTLS_EAB_KID");
}

int main(void)
{
	RUN(issues_with_the_right_key);
	RUN(refused_without_eab);
	RUN(refused_with_a_wrong_key);
	RUN(refused_with_an_unknown_kid);
	return TEST_EXIT();
}
