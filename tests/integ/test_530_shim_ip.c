/*
 * IP address certificates (RFC 8738) through the shim: AUTOTLS_DOMAINS=127.0.0.1 under `openssl s_server`.
 * The validation arrives on the server's port with the reverse name as SNI (1.0.0.127.in-addr.arpa) and gets
 * the TLS-ALPN-01 certificate; afterwards a client that connects to 127.0.0.1 without SNI (a client must not
 * send an address as SNI) gets the managed certificate, verified for the address against Pebble's root, and a
 * client that sends an unmanaged name still gets the server's own certificate.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

static struct shim_env env;

static void ip_certificate_without_sni(void)
{
	struct tls_client_result r;
	shim_env_domains = "127.0.0.1";
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	shim_env_domains = NULL;
	REQUIRE(started);
	int ok = 0;
	long t0 = harness_now_ms();
	tls_verify_quiet = 1;
	while (!ok && harness_now_ms() - t0 < SHIM_ISSUE_TIMEOUT_MS) {
		memset(&r, 0, sizeof(r));
		ok = tls_client_connect(env.port, NULL, NULL, 0, env.p.issuing_root_file, "127.0.0.1", &r) == 0;
		if (!ok)
			harness_sleep_ms(SHIM_POLL_MS);
	}
	tls_verify_quiet = 0;
	CHECK(ok);
	fprintf(stderr, "  127.0.0.1 verified without SNI after %ld ms\n", harness_now_ms() - t0);
	/* TLS 1.2 and 1.3 */
	CHECK_OK(tls_client_connect(env.port, NULL, NULL, TLS1_2_VERSION, env.p.issuing_root_file, "127.0.0.1", &r));
	CHECK_OK(tls_client_connect(env.port, NULL, NULL, TLS1_3_VERSION, env.p.issuing_root_file, "127.0.0.1", &r));
	/* an unmanaged name keeps the server's own certificate */
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, "unmanaged.test", NULL, 0, NULL, NULL, &r));
	CHECK(strstr(r.subject, SERVER_PLACEHOLDER_CN) != NULL);
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
}

int main(void)
{
	RUN(ip_certificate_without_sni);
	return TEST_EXIT();
}
