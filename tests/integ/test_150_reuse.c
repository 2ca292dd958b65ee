/*
 * Acceptance 3 of the engine: a second run on the same store reuses the account (the same account URL) and
 * orders nothing for a name whose certificate is still valid; a name added to the set is ordered.
 */
#include "tests/harness/issue_env.h"
#include "tests/test.h"

#include <stdlib.h>

static struct issue_env env;

static void second_run_reuses(void)
{
	const char *names[] = { "reuse.example.test", "www.reuse.example.test" };
	char *url1 = NULL, *url2 = NULL;
	int ordered = -1;

	REQUIRE(at_engine_account(env.engine, &url1) == 0);
	CHECK_OK(issue_env_issue(&env, &env.s_alpn, names, 2, &ordered));
	CHECK_INT(ordered, ==, 1);
	int orders = pebble_count_orders(&env.p);
	CHECK_INT(orders, ==, 1);

	/* A new process: close everything but Pebble, open the store again. */
	at_engine_free(env.engine);
	env.engine = NULL;
	at_store_close(env.store);
	REQUIRE(at_store_open_file(&env.store, env.store_dir) == 0);
	REQUIRE(issue_env_engine(&env, AT_KEY_P256, NULL, NULL) == 0);
	REQUIRE(at_engine_account(env.engine, &url2) == 0);
	CHECK_STR(url1, url2);

	struct at_cert_record rec;
	REQUIRE(at_engine_ensure(env.engine, names, 2, &env.s_alpn, 1, 0, &rec, &ordered) == 0);
	CHECK_INT(ordered, ==, 0);
	CHECK_OK(issue_env_verify(&env, &rec, names, 2));
	at_cert_record_clear(&rec);
	CHECK_INT(pebble_count_orders(&env.p), ==, orders);

	/* The set grew: that is a new certificate. */
	const char *more[] = { "reuse.example.test", "www.reuse.example.test", "api.reuse.example.test" };
	CHECK_OK(issue_env_issue(&env, &env.s_alpn, more, 3, &ordered));
	CHECK_INT(ordered, ==, 1);
	CHECK_INT(pebble_count_orders(&env.p), ==, orders + 1);
	free(url1);
	free(url2);
}

int main(void)
{
	struct pebble_opts o = { .authz_reuse = 0 };
	if (issue_env_setup(&env, &o, __FILE__) != 0)
		return 1;
	RUN(second_run_reuses);
	issue_env_stop(&env);
	return TEST_EXIT();
}
