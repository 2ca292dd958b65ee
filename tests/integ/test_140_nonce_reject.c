/* Acceptance 2 of the engine: with Pebble rejecting 60 % of good nonces, every issuance still succeeds. */
#include "tests/harness/issue_env.h"
#include "tests/test.h"

#include <stdio.h>

static struct issue_env env;

static void each_challenge_under_badnonce(void)
{
	const char *a[] = { "alpn.nonce.example.test" };
	const char *h[] = { "http.nonce.example.test" };
	const char *d[] = { "dns.nonce.example.test" };
	const char *three[] = { "x.nonce.example.test", "y.nonce.example.test", "z.nonce.example.test" };
	CHECK_OK(issue_env_issue(&env, &env.s_alpn, a, 1, NULL));
	CHECK_OK(issue_env_issue(&env, &env.s_http, h, 1, NULL));
	CHECK_OK(issue_env_issue(&env, &env.s_dns, d, 1, NULL));
	CHECK_OK(issue_env_issue(&env, &env.s_alpn, three, 3, NULL));
}

static void badnonce_was_exercised(void)
{
	/* The scenario means nothing unless Pebble really rejected nonces and the client signed again: with 60 %
	 * rejected over some forty requests, dozens of retries are expected. */
	unsigned long retries = at_acme_badnonce_retries(at_engine_acme(env.engine));
	printf("  %lu badNonce retries\n", retries);
	CHECK_INT(retries, >=, 10);
}

int main(void)
{
	struct pebble_opts o = { .nonce_reject = 60, .authz_reuse = 0 };
	if (issue_env_setup(&env, &o, __FILE__) != 0)
		return 1;
	RUN(each_challenge_under_badnonce);
	RUN(badnonce_was_exercised);
	issue_env_stop(&env);
	return TEST_EXIT();
}
