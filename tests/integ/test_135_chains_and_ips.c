/*
 * The engine, continued: alternate chains (RFC 8555 section 7.4.2) with a preferred chain chosen by its root's
 * name, against a Pebble that offers one alternate root; and IP identifiers (RFC 8738) through HTTP-01 and
 * TLS-ALPN-01 (whose validation SNI is the reverse name).
 */
#include "tests/harness/issue_env.h"
#include "tests/harness/pebble_roots.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct issue_env env;

static void preferred_chain(void)
{
	char cn0[256], cn1[256], f0[PATH_MAX + 32], f1[PATH_MAX + 32];
	REQUIRE(pebble_root(&env.p, 0, f0, sizeof(f0), cn0, sizeof(cn0)) == 0);
	REQUIRE(pebble_root(&env.p, 1, f1, sizeof(f1), cn1, sizeof(cn1)) == 0);
	CHECK(strcmp(cn0, cn1) != 0);

	for (int want = 0; want < 2; want++) {
		at_engine_free(env.engine);
		env.engine = NULL;
		struct at_engine_config ec = {
			.directory_url = env.p.directory_url, .ca_file = env.p.api_root_file, .key_type = AT_KEY_P256,
			.account_key_type = AT_KEY_P256, .store = env.store, .preferred_chain = want ? cn1 : cn0,
		};
		REQUIRE(at_engine_new(&env.engine, &ec) == 0);
		char name[64];
		snprintf(name, sizeof(name), "chain%d.example.test", want);
		const char *names[] = { name };
		struct at_cert_record rec;
		int ordered;
		REQUIRE(at_engine_ensure(env.engine, names, 1, &env.s_alpn, 1, 0, &rec, &ordered) == 0);
		/* The chain we got verifies against the root we asked for, and not against the other one. */
		CHECK_OK(tls_verify_pair(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, want ? f1 : f0, name));
		tls_verify_quiet = 1;
		CHECK(tls_verify_pair(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, want ? f0 : f1, name) != 0);
		tls_verify_quiet = 0;
		at_cert_record_clear(&rec);
	}
}

/* Orders (force: the same address twice) and checks the address verifies as an iPAddress SAN. */
static void ip_identifier(const struct at_solver *s, const char *ip, struct responder *r)
{
	const char *names[] = { ip };
	struct at_cert_record rec;
	int ordered = 0;
	int before = responder_presented(r);
	REQUIRE(at_engine_ensure(env.engine, names, 1, s, 1, 1, &rec, &ordered) == 0);
	CHECK_INT(ordered, ==, 1);
	CHECK_INT(responder_presented(r), ==, before + 1);
	CHECK_OK(issue_env_verify(&env, &rec, names, 1));
	at_cert_record_clear(&rec);
}

static void ip_http_01(void)
{
	ip_identifier(&env.s_http, "127.0.0.1", env.http);
}

static void ip_tls_alpn_01(void)
{
	/* An account of its own: the previous case left 127.0.0.1 a valid authorization for the other account,
	 * and Pebble reuses a valid one for the same account in 1 % of orders even at PEBBLE_AUTHZREUSE=0 (a new
	 * one only when rand.Intn(100) > 0), which skipped this challenge once in CI. */
	at_engine_free(env.engine);
	env.engine = NULL;
	struct at_engine_config ec = {
		.directory_url = env.p.directory_url, .ca_file = env.p.api_root_file, .key_type = AT_KEY_P256,
		.account_key_type = AT_KEY_P256, .store = env.store, .email = "ip-alpn@example.test",
	};
	REQUIRE(at_engine_new(&env.engine, &ec) == 0);
	/* The validator's SNI is 1.0.0.127.in-addr.arpa; the responder answers for the solver's alpn_sni. */
	ip_identifier(&env.s_alpn, "127.0.0.1", env.alpn);
}

int main(void)
{
	struct pebble_opts o = { .alternate_roots = 1 };
	if (issue_env_setup(&env, &o, __FILE__) != 0)
		return 1;
	RUN(preferred_chain);
	RUN(ip_http_01);
	RUN(ip_tls_alpn_01);
	issue_env_stop(&env);
	return TEST_EXIT();
}
