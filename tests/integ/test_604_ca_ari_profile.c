/*
 * Issue 14, acceptance 4: profiles and ARI (RFC 9773) end to end, openssl s_server under the shim against the
 * scripted CA (tests/harness/hostile_acme.h: what Debian's Pebble lacks), AUTOTLS_TEST_BACKOFF_SCALE=60.
 *   - AUTOTLS_PROFILE=shortlived, which the CA lists: the new order carries it (the CA records it) and the
 *     certificate served verifies against the CA's root;
 *   - a profile the CA does not list: one error naming AUTOTLS_PROFILE per try, no order, the placeholder served;
 *   - one-hour certificates, renewalInfo answered with Retry-After: 3 and a window two thirds into the lifetime:
 *     the manager asks again every 3 s and never sooner; the window moved into the past (a CA announcing a mass
 *     revocation): the certificate is renewed within seconds, and the new order's "replaces" is the ARI certID
 *     of the certificate that was served (the CA matches it to the serial it issued);
 *   - the CA refusing "replaces" (409 alreadyReplaced) and the window moved again: the manager orders again
 *     without it, and the new certificate is served;
 *   - the CA's answer kept in the store across restarts: a restarted manager neither asks again before the
 *     Retry-After nor renews by the lifetime rule while the CA's window is later (engine/ari_state.c).
 */
#include "tests/harness/files.h"
#include "tests/harness/hostile_acme.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/hostile_life.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define ISSUE_LIMIT_MS 20000
#define ARI_RETRY_AFTER_S 3

static char base[64];
static struct hostile_ca *hc;

static void profile_sent_when_listed(void)
{
	static const char *name = "profile.ari.test";
	struct hostile_life l;
	struct hostile_acme_state st;
	struct tls_client_result r;
	REQUIRE(hostile_life_prepare(&l, base, "profile", name, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc),
				     "AUTOTLS_PROFILE=shortlived", NULL) == 0);
	REQUIRE(hostile_life_start(&l) == 0);
	long ms = hostile_life_wait(&l, name, hostile_ca_ca_file(hc), NULL, ISSUE_LIMIT_MS, &r);
	CHECK(ms >= 0);
	fprintf(stderr, "  served %ld ms after the start, verified against the scripted CA's root\n", ms);
	hostile_acme_state(hc, &st);
	CHECK_INT(st.norders, ==, 1);
	CHECK_STR(st.orders[0].profile, "shortlived");
	CHECK_INT(st.orders[0].answered, ==, 201);
	CHECK_INT(harness_file_count_lines(l.log, "] error:"), ==, 0);
	hostile_life_stop(&l);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 6000);
}

static void unlisted_profile_no_order(void)
{
	static const char *name = "unlisted.ari.test";
	struct hostile_life l;
	struct hostile_acme_state before, after;
	struct tls_client_result r;
	hostile_acme_state(hc, &before);
	REQUIRE(hostile_life_prepare(&l, base, "unlisted", name, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc),
				     "AUTOTLS_PROFILE=longlived", NULL) == 0);
	REQUIRE(hostile_life_start(&l) == 0);
	long t0 = harness_now_ms();
	while (harness_file_count_lines(l.log, "next try in") < 2 && harness_now_ms() - t0 < ISSUE_LIMIT_MS)
		harness_sleep_ms(100);
	int tries = harness_file_count_lines(l.log, "next try in");
	int naming = harness_file_count_lines(l.log, "AUTOTLS_PROFILE=longlived: the CA");
	int offers = harness_file_count_lines(l.log, "it offers classic, tlsserver, shortlived");
	int errors = harness_file_count_lines(l.log, "] error:");
	fprintf(stderr, "  %d tries in %ld ms, %d error lines naming AUTOTLS_PROFILE (%d listing the offered ones), "
			"%d error lines in all\n", tries, harness_now_ms() - t0, naming, offers, errors);
	CHECK_INT(tries, >=, 2);
	CHECK(naming >= tries && naming <= tries + 1);
	CHECK_INT(offers, ==, naming);
	/* Each try: the line naming the setting and the round's summary, nothing else. */
	CHECK(errors <= naming + tries + 1);
	hostile_acme_state(hc, &after);
	CHECK_INT(after.norders, ==, before.norders);
	/* The placeholder stays in service: nothing verifies against the CA. */
	memset(&r, 0, sizeof(r));
	tls_verify_quiet = 1;
	CHECK(tls_client_connect(l.port, name, NULL, 0, hostile_ca_ca_file(hc), NULL, &r) != 0);
	tls_verify_quiet = 0;
	hostile_life_stop(&l);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 6000);
}

/* Renewal information requests for certificate k: how many, and the shortest gap between two (ms; -1: < 2). */
static int ri_requests(const struct hostile_acme_state *st, int k, long long *min_gap)
{
	long long last = -1;
	int n = 0;
	*min_gap = -1;
	for (int i = 0; i < st->nri; i++) {
		if (st->ri[i].cert != k)
			continue;
		if (last >= 0 && (*min_gap < 0 || st->ri[i].mono_ms - last < *min_gap))
			*min_gap = st->ri[i].mono_ms - last;
		last = st->ri[i].mono_ms;
		n++;
	}
	return n;
}

/* The index of the issued certificate with serial s (hex), or -1. */
static int cert_index(const struct hostile_acme_state *st, const char *s)
{
	for (int i = 0; i < st->ncerts; i++)
		if (strcasecmp(st->cert_serial[i], s) == 0)
			return i;
	return -1;
}

static void ari_window_and_replaces(void)
{
	static const char *name = "window.ari.test";
	struct hostile_life l;
	struct hostile_acme_state st;
	struct tls_client_result r;
	char first[80], second[80];
	long long gap;
	hostile_acme_set_validity(hc, 3600);
	hostile_acme_set_ari_retry_after(hc, ARI_RETRY_AFTER_S);
	REQUIRE(hostile_life_prepare(&l, base, "window", name, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc), NULL,
				     NULL) == 0);
	REQUIRE(hostile_life_start(&l) == 0);
	long ms = hostile_life_wait(&l, name, hostile_ca_ca_file(hc), NULL, ISSUE_LIMIT_MS, &r);
	REQUIRE(ms >= 0);
	snprintf(first, sizeof(first), "%s", r.serial);
	hostile_acme_state(hc, &st);
	int norders = st.norders, k = cert_index(&st, first);
	CHECK(k >= 0);
	/* The window is 40 minutes away: the manager only asks, every Retry-After. */
	harness_sleep_ms(10000);
	hostile_acme_state(hc, &st);
	int asked = ri_requests(&st, k, &gap);
	fprintf(stderr, "  served in %ld ms; renewalInfo asked %d times in 10 s, at least %lld ms apart "
			"(Retry-After: %d)\n", ms, asked, gap, ARI_RETRY_AFTER_S);
	CHECK_INT(asked, >=, 3);
	CHECK_INT(asked, <=, 5);
	CHECK(gap >= ARI_RETRY_AFTER_S * 1000);
	CHECK_INT(st.norders, ==, norders);

	/* The CA moves the window into the past. */
	long t0 = harness_now_ms();
	hostile_acme_ari_move_past(hc);
	ms = hostile_life_wait(&l, name, hostile_ca_ca_file(hc), first, 60000, &r);
	CHECK(ms >= 0);
	snprintf(second, sizeof(second), "%s", r.serial);
	fprintf(stderr, "  window moved into the past: renewed and served %ld ms later\n", harness_now_ms() - t0);
	CHECK(ms >= 0 && ms <= (ARI_RETRY_AFTER_S + 5) * 1000);
	hostile_acme_state(hc, &st);
	CHECK_INT(st.norders, ==, norders + 1);
	const struct hostile_acme_order *o = &st.orders[st.norders - 1];
	fprintf(stderr, "  the new order: replaces \"%s\" (serial %s; the served one was %s)\n", o->replaces,
		o->replaces_serial, first);
	CHECK(o->replaces[0] != '\0');
	CHECK(strcasecmp(o->replaces_serial, first) == 0);
	CHECK_INT(o->answered, ==, 201);
	CHECK_INT(harness_file_count_lines(l.log, "the CA's renewal window (ARI) says so"), ==, 1);
	CHECK_INT(harness_file_count_lines(l.log, "asks for window.ari.test to be renewed early"), >=, 1);

	/* The CA refuses "replaces": the manager orders again without it. */
	norders = st.norders;
	hostile_acme_refuse_replaces(hc, 1);
	t0 = harness_now_ms();
	hostile_acme_ari_move_past(hc);
	ms = hostile_life_wait(&l, name, hostile_ca_ca_file(hc), second, 60000, &r);
	CHECK(ms >= 0);
	fprintf(stderr, "  \"replaces\" refused: served a new certificate %ld ms after the window moved\n",
		harness_now_ms() - t0);
	hostile_acme_state(hc, &st);
	CHECK_INT(st.norders, ==, norders + 2);
	if (st.norders == norders + 2) {
		CHECK(strcasecmp(st.orders[norders].replaces_serial, second) == 0);
		CHECK_INT(st.orders[norders].answered, ==, 409);
		CHECK_STR(st.orders[norders + 1].replaces, "");
		CHECK_INT(st.orders[norders + 1].answered, ==, 201);
	}
	CHECK_INT(harness_file_count_lines(l.log, "refused \"replaces\""), ==, 1);
	CHECK_INT(harness_file_count_lines(l.log, "] error:"), ==, 0);
	hostile_acme_refuse_replaces(hc, 0);
	hostile_life_stop(&l);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 8000);
}

/*
 * The CA's answer kept across restarts: 30-second certificates (the lifetime rule renews at half, 15 s), a
 * window at 83-90 % (24-27 s: the scripted CA rounds 24.9 down) and Retry-After: 12. The server is restarted 4 s
 * after the issuance (its new manager must not ask the CA again before the 12 s) and again 18 s after it (past
 * the lifetime point: the new manager must keep the CA's later window, not order at once).
 */
static void ari_kept_across_restarts(void)
{
	static const char *name = "kept.ari.test";
	struct hostile_life l;
	struct hostile_acme_state st;
	struct tls_client_result r;
	char first[80];
	long long gap;
	hostile_acme_set_validity(hc, 30);
	hostile_acme_set_window(hc, 83, 90);
	hostile_acme_set_ari_retry_after(hc, 12);
	hostile_acme_state(hc, &st);
	int norders = st.norders;
	REQUIRE(hostile_life_prepare(&l, base, "kept", name, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc), NULL,
				     NULL) == 0);
	REQUIRE(hostile_life_start(&l) == 0);
	REQUIRE(hostile_life_wait(&l, name, hostile_ca_ca_file(hc), NULL, ISSUE_LIMIT_MS, &r) >= 0);
	long t0 = harness_now_ms();
	snprintf(first, sizeof(first), "%s", r.serial);
	long long nb = r.not_after - 30;
	for (int i = 0; i < 2; i++) {
		long at = i == 0 ? 4000 : 18000;
		while (harness_now_ms() - t0 < at)
			harness_sleep_ms(50);
		hostile_life_stop(&l);
		CHECK_OK(hostile_life_start(&l));
		long ms = hostile_life_wait(&l, name, hostile_ca_ca_file(hc), NULL, 5000, &r);
		CHECK(ms >= 0);
		CHECK_STR(r.serial, first);
		fprintf(stderr, "  restarted %ld s after the issuance: the stored certificate served in %ld ms\n", at / 1000,
			ms);
	}
	long ms = hostile_life_wait(&l, name, hostile_ca_ca_file(hc), first, 30000, &r);
	CHECK(ms >= 0);
	long long renewed = (long long)time(NULL);
	hostile_acme_state(hc, &st);
	int k = cert_index(&st, first);
	int asked = ri_requests(&st, k, &gap);
	fprintf(stderr, "  renewed %lld s after notBefore (window 24-27 s, lifetime point 15 s); renewalInfo asked %d "
			"times for it, at least %lld ms apart (Retry-After: 12)\n", renewed - nb, asked, gap);
	CHECK(renewed >= nb + 30 * 83 / 100); /* the CA's own start, in whole seconds as it computes it */
	CHECK_INT(asked, <=, 3);
	CHECK(gap >= 12000);
	CHECK_INT(st.norders, ==, norders + 2);
	CHECK(harness_file_count_lines(l.log, "the CA's last answer holds") >= 2);
	CHECK_INT(harness_file_count_lines(l.log, "] error:"), ==, 0);
	hostile_life_stop(&l);
	hostile_acme_set_window(hc, 0, 0);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 8000);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/autotls-t604-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0 || hostile_ca_start(&hc, base) != 0) {
		fprintf(stderr, "cannot set up the scripted CA\n");
		return 1;
	}
	hostile_acme_set_ari(hc, 1);
	hostile_acme_set_profiles(hc, "classic,tlsserver,shortlived");
	RUN(profile_sent_when_listed);
	RUN(unlisted_profile_no_order);
	RUN(ari_window_and_replaces);
	RUN(ari_kept_across_restarts);
	hostile_ca_stop(hc);
	harness_remove_or_keep(base);
	return TEST_EXIT();
}
