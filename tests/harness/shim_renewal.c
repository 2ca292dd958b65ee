/* Renewal under load (see shim_renewal.h). */
#include "tests/harness/shim_renewal.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

/* Pebble's certificate lifetime here: renewal comes with half of it left, so two renewals take one lifetime. Short
 * to keep make test short, long enough that an order under ASan and CI's load (a second or two) finishes well
 * inside the half that is left when it starts. */
#define RENEW_VALIDITY_S 16

void shim_renew_under_load(enum server_kind kind)
{
	struct shim_env env;
	shim_env_validity_s = RENEW_VALIDITY_S;
	int started = shim_env_start(&env, kind) == 0;
	CHECK(started);
	if (!started) {
		shim_env_dump(&env);
		shim_env_stop(&env);
		return;
	}
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	char serials[8][80];
	int nserials = 0, failures = 0, handshakes = 0;
	long t0 = harness_now_ms();
	/* Long enough for two renewals (at half and all of the lifetime) plus the orders themselves and a margin. */
	while (ms >= 0 && harness_now_ms() - t0 < RENEW_VALIDITY_S * 1000L + 12000 && nserials < 3) {
		struct tls_client_result r;
		memset(&r, 0, sizeof(r));
		handshakes++;
		if (tls_client_connect(env.port, SHIM_NAME, NULL, handshakes % 2 ? TLS1_3_VERSION : TLS1_2_VERSION,
				       env.p.issuing_root_file, NULL, &r) != 0) {
			failures++;
			continue;
		}
		if (nserials == 0 || strcmp(serials[nserials - 1], r.serial) != 0) {
			if (nserials < 8)
				snprintf(serials[nserials++], sizeof(serials[0]), "%s", r.serial);
			fprintf(stderr, "  %s: serial %s after %ld ms\n", server_kind_name(kind), r.serial,
				harness_now_ms() - t0);
		}
		harness_sleep_ms(20);
	}
	fprintf(stderr, "  %s: %d handshakes, %d failed, %d certificates\n", server_kind_name(kind), handshakes,
		failures, nserials);
	CHECK_INT(failures, ==, 0);
	CHECK_INT(nserials, >=, 3); /* the first certificate and two renewals */
	CHECK(shim_log_has(&env, "renewed") || shim_log_has(&env, "obtained a certificate"));
	/* Every worker: many fresh connections all see the newest serial. */
	int stale = 0;
	for (int i = 0; i < 40 && nserials > 0; i++) {
		struct tls_client_result r;
		memset(&r, 0, sizeof(r));
		if (tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, &r) != 0 ||
		    strcmp(r.serial, serials[nserials - 1]) != 0) {
			/* A renewal may land in between: accept a newer serial, never an older one. */
			int older = 0;
			for (int k = 0; k < nserials - 1; k++)
				older |= strcmp(r.serial, serials[k]) == 0;
			stale += older || r.serial[0] == '\0';
		}
	}
	CHECK_INT(stale, ==, 0);
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
	shim_env_validity_s = 0;
}
