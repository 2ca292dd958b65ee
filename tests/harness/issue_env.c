/* The issuance scenarios' environment (see issue_env.h). */
#include "tests/harness/issue_env.h"
#include "acme/acme.h"
#include "acme/problem.h"
#include "tests/harness/tlsverify.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int issue_env_engine(struct issue_env *env, enum at_key_type kt, const char *eab_kid, const char *eab_key)
{
	at_engine_free(env->engine);
	env->engine = NULL;
	struct at_engine_config ec = {
		.directory_url = env->p.directory_url,
		.ca_file = env->p.api_root_file,
		.email = "ops@example.test",
		.eab_kid = eab_kid,
		.eab_hmac_key = eab_key,
		.key_type = kt,
		.account_key_type = AT_KEY_P256,
		.store = env->store,
		.poll_timeout_ms = 30000,
	};
	return at_engine_new(&env->engine, &ec);
}

int issue_env_start(struct issue_env *env, const struct pebble_opts *opts)
{
	memset(env, 0, sizeof(*env));
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	if (pebble_start(&env->p, opts) != 0)
		return -1;
	env->started = 1;
	snprintf(env->store_dir, sizeof(env->store_dir), "%s/store", env->p.workdir);
	if (at_store_open_file(&env->store, env->store_dir) != 0)
		return -1;
	if (responder_tls_alpn_start(&env->alpn, &env->s_alpn, env->p.tls_port) != 0 ||
	    responder_http_start(&env->http, &env->s_http, env->p.http_port) != 0 ||
	    responder_dns_start(&env->dns, &env->s_dns, &env->p) != 0)
		return -1;
	return issue_env_engine(env, AT_KEY_P256, NULL, NULL);
}

void issue_env_stop(struct issue_env *env)
{
	at_engine_free(env->engine);
	responder_stop(env->alpn);
	responder_stop(env->http);
	responder_stop(env->dns);
	at_store_close(env->store);
	if (env->started)
		pebble_stop(&env->p);
	memset(env, 0, sizeof(*env));
}

int issue_env_setup(struct issue_env *env, const struct pebble_opts *opts, const char *file)
{
	if (issue_env_start(env, opts) == 0)
		return 0;
	printf("FAIL %s:setup\n", file);
	issue_env_stop(env);
	return -1;
}

int issue_env_verify(struct issue_env *env, const struct at_cert_record *rec, const char *const *names,
			     size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		/* A wildcard is checked with a name it covers. */
		char probe[300];
		if (strncmp(names[i], "*.", 2) == 0)
			snprintf(probe, sizeof(probe), "probe%s", names[i] + 1);
		else
			snprintf(probe, sizeof(probe), "%s", names[i]);
		if (tls_verify_pair(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len,
				    env->p.issuing_root_file, probe) != 0) {
			fprintf(stderr, "  %s does not verify against Pebble's issuing root\n", probe);
			bad = 1;
		}
	}
	/* A name the certificate was not ordered for must not verify. */
	tls_verify_quiet = 1;
	int other = tls_verify_pair(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len, env->p.issuing_root_file,
			    "not-ordered.example.test");
	tls_verify_quiet = 0;
	if (other == 0) {
		fprintf(stderr, "  an unordered name verified\n");
		bad = 1;
	}
	if (rec->info.nnames != n) {
		fprintf(stderr, "  the certificate has %zu names, expected %zu\n", rec->info.nnames, n);
		bad = 1;
	}
	return bad ? -1 : 0;
}

int issue_env_issue(struct issue_env *env, const struct at_solver *solver, const char *const *names, size_t n,
			    int *ordered)
{
	struct at_cert_record rec;
	int dummy;
	int rc = at_engine_ensure(env->engine, names, n, solver, 1, 0, &rec, ordered ? ordered : &dummy);
	if (rc != 0) {
		const struct at_problem *pr = at_acme_last_problem(at_engine_acme(env->engine));
		fprintf(stderr, "  issuance for %s failed: %s (%s: %s)\n", names[0], at_strerror(rc),
			at_problem_short_type(pr), pr->detail ? pr->detail : "");
		return -1;
	}
	rc = issue_env_verify(env, &rec, names, n);
	at_cert_record_clear(&rec);
	return rc;
}
