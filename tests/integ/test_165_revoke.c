/* Acceptance 5 of the engine: revoking an issued certificate succeeds; revoking it again reports the CA's
 * problem type (alreadyRevoked). */
#include "tests/harness/issue_env.h"
#include "tests/test.h"
#include "util/err.h"

static struct issue_env env;

static void revoke_twice(void)
{
	const char *names[] = { "revoke.example.test" };
	struct at_cert_record rec;
	int ordered;
	REQUIRE(at_engine_ensure(env.engine, names, 1, &env.s_alpn, 1, 0, &rec, &ordered) == 0);
	struct at_acme *c = at_engine_acme(env.engine);
	CHECK_OK(at_acme_revoke(c, rec.chain_pem, rec.chain_len, 4 /* superseded */));
	int rc = at_acme_revoke(c, rec.chain_pem, rec.chain_len, -1);
	CHECK_INT(rc, ==, AT_E_ALREADY_REVOKED);
	CHECK_STR(at_problem_short_type(at_acme_last_problem(c)), "alreadyRevoked");
	at_cert_record_clear(&rec);
}

int main(void)
{
	struct pebble_opts o = { .authz_reuse = 0 };
	if (issue_env_setup(&env, &o, __FILE__) != 0)
		return 1;
	RUN(revoke_twice);
	issue_env_stop(&env);
	return TEST_EXIT();
}
