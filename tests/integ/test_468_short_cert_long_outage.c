/*
 * Issue 15, acceptance 2: a short-lived certificate whose CA is down from its renewal point for most of the time
 * it has left is still renewed before it ends. The backoff used to climb 1 min, 10 min, 100 min, then a day: a
 * 6-day certificate due with 3 days left got one try a day, so a 3-day outage from its renewal point left it
 * none. Now no wait is longer than an eighth of the time the certificate has left (at least a minute).
 *
 * Scaled: Pebble issues 40-second certificates (renewal due 20 s before the end, less up to 2 s of jitter) and
 * AUTOTLS_TEST_BACKOFF_SCALE=2880 makes the old ladder 1 s, 1 s, 2 s, then 30 s ("a day"): with the old schedule
 * the fifth try would come after the certificate ended. Pebble is killed after the first issuance and started
 * again 12 s after the first failed renewal; the renewed certificate must be in the store and served before the
 * first one's notAfter, and the manager must have kept trying through the outage (at least one try a few seconds:
 * the old ladder made 4 tries in those 12 s, the capped one about one a second).
 */
#include "tests/harness/files.h"
#include "tests/harness/proc.h"
#include "tests/harness/records.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALIDITY_S 40
#define SCALE 2880
#define OUTAGE_MS 12000

static void renewed_before_expiry(void)
{
	struct shim_env env;
	struct pebble_opts po = {.validity_s = VALIDITY_S, .authz_reuse = -1};
	struct at_cert_record rec;
	char s1[80];
	long saved_scale = shim_env_backoff_scale;

	shim_env_backoff_scale = SCALE;
	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, &po) == 0 && shim_env_server_start(&env) == 0;
	shim_env_backoff_scale = saved_scale;
	CHECK(ok);
	if (!ok)
		goto out;
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, SHIM_ISSUE_TIMEOUT_MS, s1, sizeof(s1));
	CHECK(ms >= 0);
	if (ms < 0)
		goto out;
	time_t not_after;
	CHECK_OK(harness_record_not_after(env.store, env.p.directory_url, SHIM_NAME, &not_after));
	CHECK_OK(pebble_kill(&env.p));

	/* The renewal point: the first failed try. */
	while (shim_log_count(&env, "error:", "next try in") < 1 && time(NULL) < not_after)
		harness_sleep_ms(100);
	long t_due = harness_now_ms();
	long left_at_due = (long)(not_after - time(NULL));
	/* The lifetime rule's point (half of the lifetime left, less the jitter), not a later one. */
	CHECK(left_at_due > VALIDITY_S / 3);
	while (harness_now_ms() - t_due < OUTAGE_MS && time(NULL) < not_after - 3)
		harness_sleep_ms(100);
	int tries = shim_log_count(&env, "error:", "next try in");
	long down_ms = harness_now_ms() - t_due;
	REQUIRE(pebble_restart(&env.p) == 0);
	long t_up = harness_now_ms();

	/* Back: the renewed certificate lands in the store, and the server serves it, before the old one ends. */
	int renewed = 0;
	while (!renewed && time(NULL) <= not_after + 2) {
		if (harness_record_load_dir(env.store, env.p.directory_url, SHIM_NAME, &rec) == 0) {
			renewed = rec.info.not_after > not_after;
			at_cert_record_clear(&rec);
		}
		if (!renewed)
			harness_sleep_ms(100);
	}
	time_t at = time(NULL);
	fprintf(stderr, "  renewal due with %ld s left; CA down %ld ms from then, %d failed tries meanwhile; renewed "
			"%ld ms after the CA came back, %ld s before the old certificate's end\n",
		left_at_due, down_ms, tries, harness_now_ms() - t_up, (long)(not_after - at));
	CHECK(renewed);
	CHECK(at <= not_after);
	/* The old ladder tried 4 times and then waited 30 s; the capped one keeps trying as the end nears. */
	CHECK_INT(tries, >=, 8);
	struct tls_client_result r;
	CHECK_OK(shim_try(&env, env.p.issuing_root_file, &r));
	CHECK(strcmp(r.serial, s1) != 0);
	shim_check_log(&env);
out:
	shim_env_finish(&env);
}

int main(void)
{
	RUN(renewed_before_expiry);
	return TEST_EXIT();
}
