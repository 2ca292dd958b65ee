/*
 * Issue 11, acceptance 4: one host of a fleet cut off from etcd for 60 s through a renewal. Three nginx hosts
 * (master + 2 workers each, own process trees and state folders) on a real three-member etcd; the third host
 * reaches the cluster only through a TCP relay the test controls (tests/harness/tcp_relay.c), and the test cuts
 * that relay for 60 s: connects are refused and the connections it carried, the watch streams among them, are
 * closed. The certificates live 90 s, so the leader renews at about 45-50 s (half the lifetime, plus up to a
 * twentieth), inside the cut, while the old certificate still has some 25 s left when the cut ends.
 *
 * Checked: all through the cut the cut-off host serves the old certificate, verified against Pebble's root,
 * every handshake; the others serve the renewed one before the cut ends; within seconds of the relay mending,
 * the cut-off host serves the new serial (the delay printed); Pebble saw two orders (no order from the cut-off
 * host); its log says once that etcd stopped answering, not at every try, and says when etcd answers again.
 *
 * Only the two connected hosts sit behind HAProxy on Pebble's tlsPort: a host cut off from the store cannot
 * answer a challenge published through it, so a validation sent to it would fail (the renewal would then wait
 * for its backoff); that limit is the load balancer's pool to keep, as with any unhealthy member.
 */
#include "tests/harness/fleet.h"
#include "tests/harness/fleet_cut.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define VALIDITY_S 90
#define CUT_MS 60000
#define CUT 2 /* the cut-off host: host[2] */

static struct shim_env env;
static struct fleet fl = { .env = &env };
static struct tcp_relay relay;

static void cut_off_through_a_renewal(void)
{
	char first[80], other[80], renewed[80];
	struct tls_client_result r;
	REQUIRE(fleet_etcd_start(&fl, "fleet910") == 0);
	shim_env_validity_s = VALIDITY_S;
	int prepared = fleet_prepare(&fl, NULL, "AUTOTLS_CHALLENGES=tls-alpn-01") == 0;
	shim_env_validity_s = 0;
	REQUIRE(prepared);
	REQUIRE(fleet_hold_issue(&fl) == 0);
	/* The balancer's pool is h0 and h1; one of them leads before the cut-off host starts. */
	REQUIRE(fleet_start_hosts(&fl, 2) == 0);
	REQUIRE(fleet_start_haproxy(&fl) == 0);
	for (long w0 = harness_now_ms(); fleet_leader(&fl) < 0 && harness_now_ms() - w0 < 10000;)
		harness_sleep_ms(50);
	int lead = fleet_leader(&fl);
	REQUIRE(lead >= 0);
	REQUIRE(fleet_cut_add_host(&fl, &relay, "cut") == 0);
	REQUIRE(fleet_wait_all_watch(&fl, 10000) == 0);
	long t1 = harness_now_ms();
	CHECK_OK(fleet_release_issue(&fl));
	for (int h = 0; h < fl.n; h++) {
		char s[80];
		long ms = fleet_wait_serial(&env, fl.host[h].port, NULL, SHIM_ISSUE_TIMEOUT_MS, s, sizeof s);
		REQUIRE(ms >= 0);
		if (h == 0)
			memcpy(first, s, sizeof first);
		else
			CHECK_STR(s, first);
	}
	memset(&r, 0, sizeof r);
	struct shim_env probe;
	memcpy(&probe, &env, sizeof probe);
	probe.port = fl.host[CUT].port;
	REQUIRE(shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) == 0);
	long long old_not_after = r.not_after;
	fprintf(stderr, "  host %d leads; every host serves %s (not after %+lld s) %ld ms after the lock was let go\n",
		lead, first, old_not_after - (long long)time(NULL), harness_now_ms() - t1);

	/* The cut. */
	size_t log_at_cut = fleet_cut_log_size(fl.host[CUT].log);
	REQUIRE(tcp_relay_cut(&relay) == 0);
	long tc = harness_now_ms();
	int served = 0, failed = 0, wrong = 0;
	long renewed_at = -1;
	renewed[0] = '\0';
	for (long last_other = 0; harness_now_ms() - tc < CUT_MS; harness_sleep_ms(200)) {
		probe.port = fl.host[CUT].port;
		memset(&r, 0, sizeof r);
		if (shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) != 0) {
			failed++;
			fprintf(stderr, "  the cut-off host failed a handshake at %ld ms: serial \"%s\", verify %ld\n",
				harness_now_ms() - tc, r.serial, r.verify_result);
		} else if (strcmp(r.serial, first) != 0) {
			wrong++;
			fprintf(stderr, "  the cut-off host served %s at %ld ms of the cut\n", r.serial, harness_now_ms() - tc);
		} else {
			served++;
		}
		/* Once a second: has the fleet renewed? (a connected host, not the leader if it can be helped) */
		if (renewed_at < 0 && harness_now_ms() - last_other >= 1000) {
			last_other = harness_now_ms();
			probe.port = fl.host[lead == 0 ? 1 : 0].port;
			if (shim_try_verified(&probe, SHIM_NAME, NULL, 0, &r) == 0 && strcmp(r.serial, first) != 0) {
				renewed_at = harness_now_ms() - tc;
				memcpy(renewed, r.serial, sizeof renewed);
			}
		}
	}
	size_t log_at_mend = fleet_cut_log_size(fl.host[CUT].log);
	REQUIRE(tcp_relay_mend(&relay) == 0);
	long tm = harness_now_ms();
	long long left = old_not_after - (long long)time(NULL);
	fprintf(stderr, "  cut for %ld ms: the cut-off host served the old certificate in %d handshakes (%d failed, %d "
		"another); the fleet renewed (%s) by %ld ms into the cut; the old one had %lld s left at the end\n",
		tm - tc, served, failed, wrong, renewed[0] ? renewed : "not", renewed_at, left);
	CHECK_INT(failed, ==, 0);
	CHECK_INT(wrong, ==, 0);
	CHECK(served >= CUT_MS / 2000); /* one every 2 s of the cut at least (~5 a second measured): the loop ran throughout */
	CHECK(renewed_at >= 0);
	CHECK(left > 0);

	/* Reconnected: the new serial within seconds. */
	long ms = fleet_wait_serial(&env, fl.host[CUT].port, first, 10000, other, sizeof other);
	fprintf(stderr, "  after the relay mended, the cut-off host served %s in %ld ms\n", ms >= 0 ? other : "nothing new",
		ms);
	CHECK(ms >= 0 && ms <= 5000);
	if (ms >= 0 && renewed[0])
		CHECK_STR(other, renewed);
	CHECK_INT(pebble_count_orders(&env.p), ==, 2);

	/* Its log while cut off: once that etcd stopped answering, not a line per try; then that it answers. */
	int lost = 0;
	fprintf(stderr, "  the cut-off host's log during the cut (debug lines left out):\n");
	int loud = fleet_cut_loud_lines(fl.host[CUT].log, log_at_cut, log_at_mend, "no member of", &lost);
	CHECK_INT(lost, ==, 1);
	CHECK(loud <= 6);
	CHECK(fleet_cut_log_wait_after(fl.host[CUT].log, log_at_mend, "etcd answers again", 3000) == 0);
	fprintf(stderr, "  %ld ms from the etcd start's end to here\n", harness_now_ms() - t1);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(cut_off_through_a_renewal);
	tcp_relay_stop(&relay);
	return fleet_end(&fl, 0, t0);
}
