/* Acceptance 4 of the engine: a Pebble that requires External Account Binding refuses an account without it
 * (and with a wrong MAC key) and accepts one with it; that account then issues. */
#include "acme/acme.h"
#include "tests/harness/issue_env.h"
#include "tests/test.h"
#include "util/err.h"

#include <stdio.h>

static struct issue_env env;

static int new_account(const char *kid, const char *hmac, int *code)
{
	struct at_acme *c = NULL;
	struct at_jws_key *key = NULL;
	struct at_acme_config cfg = { .directory_url = env.p.directory_url, .ca_file = env.p.api_root_file };
	if (at_acme_new(&c, &cfg) != 0 || at_jws_key_generate(&key, AT_KEY_P256) != 0)
		return -1;
	struct at_acme_account_opts o = { .agree_tos = 1, .eab_kid = kid, .eab_hmac_key = hmac };
	*code = at_acme_account(c, key, &o, NULL);
	if (*code != 0)
		fprintf(stderr, "  (expected or not) account refused: %s: %s\n", at_problem_short_type(at_acme_last_problem(c)),
			at_acme_last_problem(c)->detail ? at_acme_last_problem(c)->detail : "");
	at_acme_free(c);
	at_jws_key_free(key);
	return 0;
}

static void refused_without_eab(void)
{
	int code = 0;
	REQUIRE(new_account(NULL, NULL, &code) == 0);
	CHECK_INT(code, ==, AT_E_EAB_REQUIRED);
}

static void refused_with_wrong_key(void)
{
	int code = 0;
	REQUIRE(new_account(PEBBLE_EAB_KID, "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH", &code) == 0);
	CHECK_INT(code, !=, 0);
}

static void accepted_with_eab(void)
{
	int code = -1;
	REQUIRE(new_account(PEBBLE_EAB_KID, PEBBLE_EAB_HMAC, &code) == 0);
	CHECK_INT(code, ==, 0);
	/* And the engine, configured with it, issues. */
	REQUIRE(issue_env_engine(&env, AT_KEY_P256, PEBBLE_EAB_KID, PEBBLE_EAB_HMAC) == 0);
	const char *names[] = { "eab.example.test" };
	CHECK_OK(issue_env_issue(&env, &env.s_alpn, names, 1, NULL));
}

int main(void)
{
	struct pebble_opts o = { .eab_required = 1, .authz_reuse = 0 };
	if (issue_env_setup(&env, &o, __FILE__) != 0)
		return 1;
	RUN(refused_without_eab);
	RUN(refused_with_wrong_key);
	RUN(accepted_with_eab);
	issue_env_stop(&env);
	return TEST_EXIT();
}
