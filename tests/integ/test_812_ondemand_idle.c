/*
 * On-demand names nobody asks for are not renewed (issue 10, AUTOTLS_ON_DEMAND_IDLE; shim/ondemand_idle.h), at
 * the tests' time scale: AUTOTLS_ON_DEMAND_IDLE=1 (a day) with AUTOTLS_TEST_BACKOFF_SCALE=17280 is 5 s of idle
 * time, a touch told at most once a second per process; Pebble's certificates live 20 s (renewed with 10 s left).
 * Under `openssl s_server`, three allowed names are issued; a client keeps asking for busy.idle.test only:
 *   - busy is renewed (a new serial) as usual;
 *   - quiet and back go idle (a log line each); back, asked for again while still served, is renewed then;
 *   - quiet, never asked for again, is not renewed (no second certificate published by its expiry), and asked
 *     for after its expiry it is issued anew.
 */
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>

#define BUSY "busy.idle.test"
#define QUIET "quiet.idle.test"
#define BACK "back.idle.test"

static struct shim_env env;

/* The serial a verified handshake for name shows now, into out; 0 or -1. */
static int serial_of(const char *name, char out[80])
{
	struct tls_client_result r;
	tls_verify_quiet = 1;
	int rc = tls_client_connect(env.port, name, NULL, 0, env.p.issuing_root_file, NULL, &r);
	tls_verify_quiet = 0;
	if (rc == 0)
		snprintf(out, 80, "%s", r.serial);
	return rc;
}

static long until_verified(const char *name, long ms, char serial[80])
{
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < ms) {
		if (serial_of(name, serial) == 0)
			return harness_now_ms() - t0;
		harness_sleep_ms(100);
	}
	return -1;
}

static void idle_names_are_not_renewed(void)
{
	char busy0[80] = "", quiet0[80] = "", back0[80] = "", s[80] = "";
	long t0 = harness_now_ms();
	CHECK(until_verified(BUSY, 15000, busy0) >= 0);
	CHECK(until_verified(QUIET, 15000, quiet0) >= 0);
	CHECK(until_verified(BACK, 15000, back0) >= 0);
	long issued = harness_now_ms();
	printf("  the three names issued %ld ms after their first handshakes\n", issued - t0);
	/* busy asked for every 300 ms until its renewal shows; the other two never (a handshake is a touch) */
	long renewed = -1;
	while (harness_now_ms() - t0 < 20000) {
		if (serial_of(BUSY, s) == 0 && strcmp(s, busy0) != 0) {
			renewed = harness_now_ms() - issued;
			break;
		}
		harness_sleep_ms(300);
	}
	long idle_ms = shim_log_wait(&env, "no handshake asked for " QUIET, "not renewed", 1, 2000);
	shim_log_print(&env, "no handshake asked for", 2);
	printf("  %s renewed %ld ms after issue; %s and %s idle (logged): %s\n", BUSY, renewed, QUIET, BACK,
	       idle_ms >= 0 && shim_log_has(&env, "no handshake asked for " BACK) ? "yes" : "NO");
	CHECK(renewed >= 0);
	CHECK(idle_ms >= 0);
	CHECK(shim_log_has(&env, "no handshake asked for " BACK));
	CHECK_INT(shim_log_count(&env, "no handshake asked for " BUSY, NULL), ==, 0);

	/* back is asked for again while still served: renewed as before (its certificate is due by now) */
	CHECK_INT(serial_of(BACK, s), ==, 0);
	CHECK_STR(s, back0);
	long b0 = harness_now_ms(), back_ms = -1;
	while (harness_now_ms() - b0 < 8000) {
		if (serial_of(BACK, s) == 0 && strcmp(s, back0) != 0) {
			back_ms = harness_now_ms() - b0;
			break;
		}
		harness_sleep_ms(300);
	}
	printf("  %s asked for again: renewed %ld ms later\n", BACK, back_ms);
	CHECK(back_ms >= 0);
	CHECK(shim_log_has(&env, "on-demand: " BACK " is asked for again"));

	/* quiet, never asked: past its expiry (20 s) no second certificate was published for it */
	while (harness_now_ms() - issued < 21500)
		harness_sleep_ms(200);
	CHECK_INT(shim_log_count(&env, "published the on-demand certificate for " QUIET, NULL), ==, 1);
	CHECK_INT(shim_log_count(&env, "on-demand: " QUIET " is asked for again", NULL), ==, 0);
	/* asked for after its expiry: the server's own certificate, then a new one */
	char q1[80] = "";
	long a0 = harness_now_ms(), again = -1;
	while (harness_now_ms() - a0 < 15000) {
		if (serial_of(QUIET, q1) == 0 && strcmp(q1, quiet0) != 0) {
			again = harness_now_ms() - a0;
			break;
		}
		harness_sleep_ms(300);
	}
	printf("  %s not renewed while idle; asked for after its expiry: a new certificate %ld ms later\n", QUIET,
	       again);
	CHECK(again >= 0);
	CHECK_INT(shim_log_count(&env, "published the on-demand certificate for " QUIET, NULL), ==, 2);
}

int main(void)
{
	shim_env_validity_s = 20;
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.idle.test";
	shim_env_extra[2] = "AUTOTLS_ON_DEMAND_IDLE=1";
	shim_env_extra[3] = "AUTOTLS_TEST_BACKOFF_SCALE=17280";
	long t0 = harness_now_ms();
	int ok = shim_env_start(&env, SERVER_S_SERVER) == 0 &&
		 shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0;
	if (!ok)
		return shim_env_setup_failed(&env, __FILE__);
	printf("  setup (Pebble, s_server, the managed name): %ld ms\n", harness_now_ms() - t0);
	RUN(idle_names_are_not_renewed);
	return shim_env_exit(&env);
}
