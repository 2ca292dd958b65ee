/*
 * Acceptance 1 and 6 of the engine: certificates for one name and for three names through each challenge type
 * (TLS-ALPN-01 on Pebble's tlsPort, HTTP-01 on its httpPort, DNS-01 through the mock DNS), and certificate keys
 * of each type. Each result verifies against Pebble's issuing root, covers exactly the names, matches its key.
 */
#include "tests/harness/issue_env.h"
#include "tests/test.h"

#include <stdio.h>

static struct issue_env env;

static void one_and_three(const struct at_solver *s, const char *tag)
{
	char n1[64], a[64], b[64], c[64];
	snprintf(n1, sizeof(n1), "one.%s.example.test", tag);
	snprintf(a, sizeof(a), "a.%s.example.test", tag);
	snprintf(b, sizeof(b), "b.%s.example.test", tag);
	snprintf(c, sizeof(c), "c.%s.example.test", tag);
	const char *one[] = { n1 };
	const char *three[] = { a, b, c };
	int ordered = 0;
	CHECK_OK(issue_env_issue(&env, s, one, 1, &ordered));
	CHECK_INT(ordered, ==, 1);
	CHECK_OK(issue_env_issue(&env, s, three, 3, &ordered));
	CHECK_INT(ordered, ==, 1);
}

static void tls_alpn_01(void)
{
	int before = responder_answered(env.alpn);
	one_and_three(&env.s_alpn, "alpn");
	/* Four authorizations, each validated through our responder (Pebble may connect more than once). */
	CHECK_INT(responder_presented(env.alpn), >=, 4);
	CHECK_INT(responder_answered(env.alpn) - before, >=, 4);
}

static void http_01(void)
{
	int before = responder_answered(env.http);
	one_and_three(&env.s_http, "http");
	CHECK_INT(responder_answered(env.http) - before, >=, 4);
}

static void dns_01(void)
{
	one_and_three(&env.s_dns, "dns");
	CHECK_INT(responder_presented(env.dns), >=, 4);
}

static void wildcard_dns_01(void)
{
	const char *names[] = { "*.wild.example.test", "wild.example.test" };
	CHECK_OK(issue_env_issue(&env, &env.s_dns, names, 2, NULL));
}

static void key_types(void)
{
	static const struct {
		enum at_key_type t;
		int evp;
		int bits;
	} types[] = {
		{ AT_KEY_P256, EVP_PKEY_EC, 256 },
		{ AT_KEY_P384, EVP_PKEY_EC, 384 },
		{ AT_KEY_RSA2048, EVP_PKEY_RSA, 2048 },
	};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		REQUIRE(issue_env_engine(&env, types[i].t, NULL, NULL) == 0);
		char name[64];
		snprintf(name, sizeof(name), "%s.keys.example.test", at_key_type_name(types[i].t));
		const char *names[] = { name };
		CHECK_OK(issue_env_issue(&env, &env.s_alpn, names, 1, NULL));
		struct at_cert_record rec;
		int ordered;
		REQUIRE(at_engine_ensure(env.engine, names, 1, &env.s_alpn, 1, 0, &rec, &ordered) == 0);
		CHECK_INT(ordered, ==, 0);
		STACK_OF(X509) *chain = NULL;
		REQUIRE(at_chain_parse(&chain, rec.chain_pem, rec.chain_len) == 0);
		EVP_PKEY *pub = X509_get0_pubkey(sk_X509_value(chain, 0));
		CHECK_INT(EVP_PKEY_get_base_id(pub), ==, types[i].evp);
		CHECK_INT(EVP_PKEY_get_bits(pub), ==, types[i].bits);
		sk_X509_pop_free(chain, X509_free);
		at_cert_record_clear(&rec);
	}
}

int main(void)
{
	struct pebble_opts o = { .authz_reuse = 0, .nonce_reject = 0 };
	if (issue_env_setup(&env, &o, __FILE__) != 0)
		return 1;
	RUN(tls_alpn_01);
	RUN(http_01);
	RUN(dns_01);
	RUN(wildcard_dns_01);
	RUN(key_types);
	issue_env_stop(&env);
	return TEST_EXIT();
}
