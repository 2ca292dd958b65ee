/*
 * A managed certificate OpenSSL refuses falls back to the server's own (issue 9, item 5). nginx (master and two
 * workers as www-data) runs with `ssl_ciphers DEFAULT:@SECLEVEL=3`: 128-bit keys and signatures. Its own
 * placeholder (self-signed P-256) passes; the certificate Pebble issues hangs from an RSA-2048 intermediate
 * (112 bits), which OpenSSL refuses at that level. Before the fallback every managed handshake failed once the
 * certificate was published (the callback had already cleared the host's certificate); now each one completes
 * with nginx's own certificate, and the shim says why in one line per serving process (two workers: at most
 * two), never one per handshake.
 */
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFUSED "OpenSSL refuses the managed certificate for " SHIM_NAME
#define HANDSHAKES_AFTER 40

static struct shim_env e;

/* One handshake for the managed name by a client that trusts nothing: 0 when it completed with nginx's own
 * placeholder certificate. */
static int placeholder_served(int version)
{
	struct tls_client_result r;
	memset(&r, 0, sizeof(r));
	if (shim_try_root(&e, SHIM_NAME, NULL, version, NULL, &r) != 0)
		return -1;
	return strcmp(r.serial, e.srv.serial) == 0 && strcmp(r.subject, "/CN=" SERVER_PLACEHOLDER_CN) == 0 ? 0 : -1;
}

static void refused_certificate_falls_back(void)
{
	int failed = 0, done = 0;
	long start = harness_now_ms();

	/* Handshakes while the certificate is obtained and published, until a worker has met the refusal. */
	while (!shim_log_has(&e, REFUSED) && harness_now_ms() - start < SHIM_ISSUE_TIMEOUT_MS) {
		failed += placeholder_served(0) != 0;
		done++;
		harness_sleep_ms(SHIM_POLL_MS);
	}
	CHECK(shim_log_has(&e, "published the certificate for " SHIM_NAME));
	CHECK(shim_log_has(&e, REFUSED));
	CHECK(shim_log_has(&e, "at security level 3"));
	for (int i = 0; i < HANDSHAKES_AFTER; i++) {
		failed += placeholder_served(i % 2 ? TLS1_2_VERSION : TLS1_3_VERSION) != 0;
		done++;
	}
	printf("  %d handshakes for the managed name, %d failed or not nginx's own; %d refusal line(s) in %ld ms\n",
	       done, failed, shim_log_count(&e, REFUSED, NULL), harness_now_ms() - start);
	CHECK_INT(failed, ==, 0);
	CHECK_INT(shim_log_count(&e, REFUSED, NULL), >=, 1);
	CHECK_INT(shim_log_count(&e, REFUSED, NULL), <=, 2);
}

int main(void)
{
	server_nginx_http_extra = "    ssl_ciphers DEFAULT:@SECLEVEL=3;\n";
	if (shim_env_start(&e, SERVER_NGINX) != 0) {
		printf("FAIL %s:setup\n", __FILE__);
		shim_env_dump(&e);
		shim_env_stop(&e);
		return 1;
	}
	RUN(refused_certificate_falls_back);
	if (test_failed_total)
		shim_env_dump(&e);
	shim_env_stop(&e);
	return TEST_EXIT();
}
