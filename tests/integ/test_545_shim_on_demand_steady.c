/*
 * On-demand issuance when the request ring is untrusted and the table is under pressure (issue 9), under
 * `openssl s_server` with AUTOTLS_ON_DEMAND=1, AUTOTLS_ALLOW=*.od.example.test and an ask URL that allows names
 * starting with "yes":
 *   - any process of the server can write into the untrusted channel's request ring (a worker as www-data
 *     included), so this test writes into it itself, through the server's own memfd: names outside the
 *     allowlist (one the ask URL would allow), upper case, unterminated, an address, localhost. The manager
 *     checks each again and orders nothing, nor asks the URL about them;
 *   - an issued name survives 10,000 names the ask URL refuses (more than the table forgets: 4,096) and is
 *     renewed before its 60-second certificate runs out, every handshake for it verified meanwhile;
 *   - once renewed, nothing is published again while nothing changes (three renewal sweeps; the tests' scale of
 *     30 makes a sweep 2 s).
 */
#include "tests/harness/ask.h"
#include "tests/harness/region.h"
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

#include <sys/mman.h>

#define ISSUED "yes1.od.example.test"
#define FLOOD 10000
#define VALIDITY_S 60 /* the flood is asked about in 8 s (10 s under ASan), well before the renewal at 30 s */
#define SCALE "30"     /* AUTOTLS_TEST_BACKOFF_SCALE: the on-demand renewal sweep every 60 / 30 s */
#define SWEEP_MS 2000

static struct shim_env env;
static struct harness_ask ask;
static struct shm_channel *channel; /* the server's request channel, mapped here read-write */
static char serial0[80];

/* A handshake for name verified against Pebble's root; its serial into serial (80 bytes). 0 or -1. */
static int verified(const char *name, char *serial)
{
	struct tls_client_result r;
	memset(&r, 0, sizeof(r));
	if (shim_try_verified(&env, name, NULL, 0, &r) != 0)
		return -1;
	snprintf(serial, 80, "%s", r.serial);
	return 0;
}

static void ring_garbage_orders_nothing(void)
{
	char raw[256];
	int orders = pebble_count_orders(&env.p);
	int ignored = shim_log_count(&env, "a request outside the policy was ignored", NULL);
	CHECK_OK(harness_channel_post(channel, "yes-outside.example.com")); /* the ask URL would allow it; the allowlist does not */
	CHECK_OK(harness_channel_post(channel, "YES2.od.example.test"));
	CHECK_OK(harness_channel_post(channel, "yes3..od.example.test"));
	CHECK_OK(harness_channel_post(channel, "localhost"));
	CHECK_OK(harness_channel_post(channel, "10.0.0.1"));
	memset(raw, 'y', sizeof(raw)); /* no NUL at all */
	CHECK_OK(harness_channel_post_raw(channel, raw));
	for (int i = 0; i < 40 && shim_log_count(&env, "a request outside the policy was ignored", NULL) < ignored + 6; i++)
		harness_sleep_ms(100);
	harness_sleep_ms(500);
	printf("  6 hostile requests: %d ignored by the manager, orders %d -> %d, ask URL calls for them %d\n",
	       shim_log_count(&env, "a request outside the policy was ignored", NULL) - ignored, orders,
	       pebble_count_orders(&env.p), harness_ask_count(&ask, "yes-outside.example.com"));
	CHECK_INT(shim_log_count(&env, "a request outside the policy was ignored", NULL), ==, ignored + 6);
	CHECK_INT(pebble_count_orders(&env.p), ==, orders);
	CHECK_INT(harness_ask_count(&ask, "yes-outside.example.com"), ==, 0);
}

static void issued_name_survives_refused_flood(void)
{
	struct tls_client_result r;
	long t0 = harness_now_ms();
	char serial[80];
	/* The first handshake posts the name; a later one gets its certificate. */
	tls_client_connect(env.port, ISSUED, NULL, 0, NULL, NULL, &r);
	while (verified(ISSUED, serial0) != 0 && harness_now_ms() - t0 < SHIM_ISSUE_TIMEOUT_MS)
		harness_sleep_ms(100);
	REQUIRE(serial0[0] != '\0');
	long issued_at = harness_now_ms();

	char name[64];
	int posted = 0;
	for (int i = 0; i < FLOOD; i++) {
		snprintf(name, sizeof(name), "no%d.od.example.test", i);
		posted += harness_channel_post(channel, name) == 0;
	}
	/* The manager asks the URL about each; wait until it has (or two thirds of the certificate's life are gone). */
	while (harness_ask_count(&ask, "no9999.od.example.test") == 0 &&
	       harness_now_ms() - issued_at < VALIDITY_S * 2000L / 3)
		harness_sleep_ms(200);
	long flood_ms = harness_now_ms() - issued_at;
	CHECK_INT(posted, ==, FLOOD);
	CHECK_INT(harness_ask_count(&ask, "no9999.od.example.test"), ==, 1);

	/* Renewed before the certificate runs out, and verified all along. */
	int failed = 0, checks = 0;
	serial[0] = '\0';
	snprintf(serial, sizeof(serial), "%s", serial0);
	while (strcmp(serial, serial0) == 0 && harness_now_ms() - issued_at < VALIDITY_S * 1000L - 2000) {
		char s[80];
		if (verified(ISSUED, s) == 0)
			snprintf(serial, sizeof(serial), "%s", s);
		else
			failed++;
		checks++;
		harness_sleep_ms(500);
	}
	printf("  %s issued; %d refused names posted and asked about in %ld ms; renewed %s after %ld ms; %d of %d "
	       "handshakes failed\n", ISSUED, posted, flood_ms, strcmp(serial, serial0) ? "" : "NOT",
	       harness_now_ms() - issued_at, failed, checks);
	CHECK(strcmp(serial, serial0) != 0);
	CHECK_INT(failed, ==, 0);
}

static void idle_nothing_republished(void)
{
	int before = shim_log_count(&env, "published the on-demand certificate for " ISSUED, NULL);
	harness_sleep_ms(3 * SWEEP_MS + 1000);
	int after = shim_log_count(&env, "published the on-demand certificate for " ISSUED, NULL);
	printf("  over three renewal sweeps: %d -> %d publications of %s\n", before, after, ISSUED);
	CHECK_INT(after, ==, before);
}

int main(void)
{
	if (harness_ask_start(&ask) != 0) {
		printf("FAIL %s:setup\n", __FILE__);
		return 1;
	}
	shim_env_validity_s = VALIDITY_S;
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	shim_env_extra[2] = ask.env;
	shim_env_extra[3] = "AUTOTLS_TEST_BACKOFF_SCALE=" SCALE;
	if (shim_env_start(&env, SERVER_S_SERVER) != 0 || shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0 ||
	    (channel = harness_channel_of(env.srv.pid)) == NULL) {
		printf("FAIL %s:setup\n", __FILE__);
		shim_env_dump(&env);
		shim_env_stop(&env);
		harness_ask_stop(&ask);
		return 1;
	}
	RUN(ring_garbage_orders_nothing);
	RUN(issued_name_survives_refused_flood);
	RUN(idle_nothing_republished);
	if (test_failed_total)
		shim_env_dump(&env);
	munmap(channel, CHAN_SIZE);
	shim_env_stop(&env);
	harness_ask_stop(&ask);
	return TEST_EXIT();
}
