/*
 * Issue 11, acceptance 2: the fleet of test_907 (three-member etcd, three nginx hosts with no shared folder,
 * HAProxy in TCP mode, round robin, on Pebble's tlsPort) with 30-second certificates, renewed by the leader at
 * least twice while a client loops: each round one handshake through the balancer (once every host serves the
 * first certificate, it must verify every time, through both renewals: 0 failed) and
 * one at each host directly, which records when each host first served each serial. Every host must serve each
 * new serial within 1 s of the first host that served it (the spread is printed), and Pebble sees one order per
 * serial.
 */
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define HOSTS 3

static struct shim_env env;
static struct fleet fl = { .env = &env };

static void renewals_reach_every_host(void)
{
	REQUIRE(fleet_etcd_start(&fl, "fleet908") == 0);
	shim_env_validity_s = 30;
	int prepared = fleet_prepare(&fl, NULL, "AUTOTLS_CHALLENGES=tls-alpn-01") == 0;
	shim_env_validity_s = 0;
	REQUIRE(prepared);
	int lead = fleet_behind_haproxy(&fl, HOSTS);
	REQUIRE(lead >= 0);
	long t1 = harness_now_ms();
	CHECK_OK(fleet_release_issue(&fl));
	/* The loop: until three serials (the first and two renewals) have reached every host, or 60 s. */
	char seen[8][80];
	long first_at[8][HOSTS];
	int nseen = 0, failed = 0, rounds = 0, lb_ok = 0;
	memset(first_at, 0, sizeof first_at);
	while (harness_now_ms() - t1 < 60000) {
		struct shim_env probe;
		struct tls_client_result r;
		memcpy(&probe, &env, sizeof(probe));
		rounds++;
		/* Counted once every host serves the first certificate (before, a host still serving its own
		 * placeholder fails verification, as it should): from then on, through the renewals, never. */
		int ready = nseen > 0;
		for (int h = 0; h < HOSTS; h++)
			ready = ready && first_at[0][h] != 0;
		memset(&r, 0, sizeof r);
		if (shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) == 0) {
			lb_ok++;
		} else if (ready) {
			failed++;
			fprintf(stderr, "  a handshake through HAProxy failed at %ld ms: serial \"%s\", subject \"%s\", "
				"verify %ld, not after %+lld s\n", harness_now_ms() - t1, r.serial, r.subject,
				r.verify_result, r.not_after ? r.not_after - (long long)time(NULL) : 0);
		}
		int all = nseen >= 3;
		for (int h = 0; h < HOSTS; h++) {
			probe.port = fl.host[h].port;
			if (shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) != 0)
				continue;
			int k = 0;
			while (k < nseen && strcmp(seen[k], r.serial) != 0)
				k++;
			if (k == nseen && nseen < 8)
				snprintf(seen[nseen++], sizeof seen[0], "%s", r.serial);
			if (k < 8 && first_at[k][h] == 0)
				first_at[k][h] = harness_now_ms() - t1;
		}
		for (int k = 0; k < 3 && k < nseen; k++)
			for (int h = 0; h < HOSTS; h++)
				all = all && first_at[k][h] != 0;
		if (all)
			break;
		harness_sleep_ms(20);
	}
	fprintf(stderr, "  %d rounds, %d handshakes through HAProxy verified, %d failed\n", rounds, lb_ok, failed);
	CHECK_INT(failed, ==, 0);
	CHECK(nseen >= 3);
	for (int k = 0; k < nseen; k++) {
		long lo = -1, hi = -1;
		int missing = 0;
		for (int h = 0; h < HOSTS; h++) {
			if (first_at[k][h] == 0) {
				missing++;
				continue;
			}
			lo = lo < 0 || first_at[k][h] < lo ? first_at[k][h] : lo;
			hi = first_at[k][h] > hi ? first_at[k][h] : hi;
		}
		fprintf(stderr, "  serial %s: first served at %ld ms, by every host within %ld ms%s\n", seen[k], lo, hi - lo,
			missing ? " (not every host saw it)" : "");
		if (k < 3) {
			CHECK_INT(missing, ==, 0);
			CHECK(hi - lo <= 1000);
		}
	}
	CHECK_INT(pebble_count_orders(&env.p), ==, nseen);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(renewals_reach_every_host);
	return fleet_end(&fl, 0, t0);
}
