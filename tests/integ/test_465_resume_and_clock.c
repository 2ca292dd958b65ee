/*
 * What CAs do in production, against the real client (acme/ over libcurl, driven by the engine) and the
 * scripted hostile CA (tests/harness/hostile_ca.h):
 *   - an order held in "processing" for "3 minutes" (6 s here: time scaled by 30, the engine's waits 2 s) is
 *     resumed, never placed again, also across a process killed in the middle of waiting (SIGKILL, as a
 *     restarted server): exactly one certificate issued, one order, one finalize;
 *   - a CA whose clock is an hour ahead of ours (notBefore 59 minutes in our future): the certificate is kept
 *     and stored, one warning naming the skew, and a second run (a new engine: a restart) orders nothing;
 *   - a name whose validation always fails, the server restarted every 30 s for 10 minutes (a clock the engine's
 *     attempt record reads, moved by the test): at most 5 failed authorizations counted at the CA in the hour,
 *     both for a loop that asks at_engine_attempt_plan and for one that only tries every type in turn (the
 *     engine's guard refuses); and the type that last worked comes first;
 *   - a DNS-01 wait (a solver that waits 6 s, calling at_challenge_keepalive) longer than the issue lock's lease
 *     (2 s here): a second engine with its own store object (as another process or host) asking for the same
 *     names meanwhile finds the lock held every time, and the CA sees one order.
 */
#include "engine/engine.h"
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/files.h"
#include "tests/harness/hostile_ca.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCALE 30
#define HOLD_MS (180000 / SCALE)
#define POLL_TIMEOUT_MS 2000

static char base[64];
static char store_dir[128];
static char log_path[160];
static struct hostile_ca *hc;
static struct at_store *store;

static const char *HELD[] = { "held.hostile.test" };
static const char *AHEAD[] = { "ahead.hostile.test" };
static const char *FAILS_PLANNED[] = { "fails-planned.hostile.test" };
static const char *FAILS_NAIVE[] = { "fails-naive.hostile.test" };
static const char *WORKS[] = { "works.hostile.test" };

/* Authorizations are already valid: the solver is never asked to present. */
static struct at_solver solver = { .type = AT_CHALLENGE_HTTP_01 };

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static time_t fake_now;
static time_t fake_clock(void)
{
	return fake_now;
}
static int use_fake_clock;

static int new_engine(struct at_engine **e, struct at_store *st, const char *dir_url, const char *ca_file)
{
	struct at_engine_config ec = {
		.directory_url = dir_url,
		.ca_file = ca_file,
		.email = "ops@hostile.test",
		.key_type = AT_KEY_P256,
		.account_key_type = AT_KEY_P256,
		.store = st,
		.poll_timeout_ms = POLL_TIMEOUT_MS,
		.guard_attempts = use_fake_clock,
		.clock = use_fake_clock ? fake_clock : NULL,
		.issue_lease_s = 2,
	};
	return at_engine_new(e, &ec);
}

static int pending_order(struct at_engine *e, const char *name)
{
	char key[512], *v = NULL;
	size_t len = 0;
	if (at_store_key(key, sizeof(key), "orders", at_engine_ca(e), name, "pending", (char *)NULL) != 0)
		return -1;
	int rc = at_store_load(store, key, &v, &len);
	at_secret_free(v, len);
	return rc == 0;
}

/* The child role: one ensure of HELD, until killed. argv: child <store> <directory URL> <CA file>. */
static int child_main(char **argv)
{
	struct at_store *st = NULL;
	struct at_engine *e = NULL;
	int ordered = 0;
	if (at_store_open_file(&st, argv[2]) != 0 || new_engine(&e, st, argv[3], argv[4]) != 0)
		return 2;
	int rc = at_engine_ensure(e, HELD, 1, &solver, 1, 0, NULL, &ordered);
	at_engine_free(e);
	at_store_close(st);
	return rc == 0 ? 0 : 1;
}

static void processing_held_is_resumed(void)
{
	struct at_engine *e = NULL;
	struct hostile_counts cnt;
	int ordered = 0;

	hostile_ca_set_mode(hc, HC_HOLD_PROCESSING);
	hostile_ca_set_hold_ms(hc, HOLD_MS);
	long long t0 = now_ms();

	/* 1. The order is placed and finalized; the wait for "valid" runs out: kept, and no fallback. */
	REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
	int rc = at_engine_ensure(e, HELD, 1, &solver, 1, 0, NULL, &ordered);
	CHECK_INT(rc, ==, AT_E_TIMEOUT);
	CHECK_INT(at_engine_fallback(e, rc), ==, 0);
	CHECK_INT(pending_order(e, HELD[0]), ==, 1);
	at_engine_free(e);

	/* 2. A restart in the middle: a process resumes the order and is killed while it waits. */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	REQUIRE(n > 0);
	exe[n] = '\0';
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char *args[] = { exe, "child", store_dir, (char *)hostile_ca_directory_url(hc),
				 (char *)hostile_ca_ca_file(hc), NULL };
		execv(exe, args);
		_exit(3);
	}
	hostile_ca_counts(hc, &cnt);
	int polls0 = cnt.order_polls;
	for (int i = 0; i < 100 && cnt.order_polls == polls0; i++) {
		usleep(50 * 1000);
		hostile_ca_counts(hc, &cnt);
	}
	CHECK_INT(cnt.order_polls, >, polls0); /* the child got as far as waiting on the order */
	usleep(300 * 1000);
	kill(pid, SIGKILL);
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status));

	/* 3. After the restart: resumed until the CA is done, each try bounded by the engine's wait. */
	for (int i = 0; i < 10 && !ordered; i++) {
		REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
		rc = at_engine_ensure(e, HELD, 1, &solver, 1, 0, NULL, &ordered);
		CHECK(rc == 0 || rc == AT_E_TIMEOUT);
		if (rc == AT_E_TIMEOUT)
			CHECK_INT(at_engine_fallback(e, rc), ==, 0);
		at_engine_free(e);
	}
	CHECK_INT(ordered, ==, 1);
	hostile_ca_counts(hc, &cnt);
	printf("  held %d ms: %lld ms to the certificate; orders %d, finalize %d, issued %d, polls %d, downloads %d\n",
	       HOLD_MS, now_ms() - t0, cnt.new_order, cnt.finalize, cnt.issued, cnt.order_polls, cnt.cert);
	CHECK_INT(cnt.new_order, ==, 1);
	CHECK_INT(cnt.finalize, ==, 1);
	CHECK_INT(cnt.issued, ==, 1);
	CHECK_INT(cnt.cert, ==, 1);
	CHECK(now_ms() - t0 >= HOLD_MS);

	/* The certificate is stored for the key kept with the order, and nothing is pending any more. */
	struct at_cert_record rec;
	REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
	CHECK_OK(at_cert_record_load(store, at_engine_ca(e), HELD[0], &rec));
	at_cert_record_clear(&rec);
	CHECK_INT(pending_order(e, HELD[0]), ==, 0);
	at_engine_free(e);
}

static void ca_clock_ahead(void)
{
	struct at_engine *e = NULL;
	struct at_cert_record rec;
	struct hostile_counts cnt;
	int ordered = 0;

	hostile_ca_set_mode(hc, HC_CLOCK_AHEAD);
	unlink(log_path);
	REQUIRE(at_log_open(AT_LOG_SINK_FILE, log_path, AT_LOG_INFO) == 0);
	REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
	CHECK_OK(at_engine_ensure(e, AHEAD, 1, &solver, 1, 0, &rec, &ordered));
	CHECK_INT(ordered, ==, 1);
	CHECK(rec.info.not_before > time(NULL) + 3000);
	at_cert_record_clear(&rec);
	at_engine_free(e);

	/* A restart: the stored certificate is good, nothing is ordered. */
	REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
	ordered = 1;
	CHECK_OK(at_engine_ensure(e, AHEAD, 1, &solver, 1, 0, &rec, &ordered));
	CHECK_INT(ordered, ==, 0);
	at_cert_record_clear(&rec);
	at_engine_free(e);
	at_log_open(AT_LOG_SINK_STDERR, NULL, AT_LOG_WARN);

	hostile_ca_counts(hc, &cnt);
	CHECK_INT(cnt.new_order, ==, 1);
	CHECK_INT(cnt.issued, ==, 1);
	CHECK_INT(harness_file_count_lines(log_path, "ahead of this host's clock"), ==, 1);
	CHECK_INT(harness_file_count_lines(log_path, "is +3"), ==, 1); /* the CA's skew, +3599..+3600 s */
}

static int present_nothing(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	(void)ch;
	return 0; /* the fake CA validates nothing: there is nothing to answer */
}

static struct at_solver solvers[AT_CHALLENGE_COUNT] = {
	{ .type = AT_CHALLENGE_TLS_ALPN_01, .present = present_nothing },
	{ .type = AT_CHALLENGE_HTTP_01, .present = present_nothing },
	{ .type = AT_CHALLENGE_DNS_01, .present = present_nothing },
};

/* One "server life" (a new engine, as after a restart): planned asks the plan, else every type in turn as the
 * shim did before issue 15; both stop falling back when at_engine_fallback says so. */
static void one_life(const char *const *names, int planned, unsigned shuffle)
{
	struct at_engine *e = NULL;
	enum at_challenge_type offered[AT_CHALLENGE_COUNT];
	for (int i = 0; i < AT_CHALLENGE_COUNT; i++)
		offered[i] = (enum at_challenge_type)((i + shuffle) % AT_CHALLENGE_COUNT);
	if (new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) != 0)
		return;
	struct at_attempt_plan plan;
	memset(&plan, 0, sizeof(plan));
	if (planned) {
		if (at_engine_attempt_plan(e, names, 1, offered, AT_CHALLENGE_COUNT, &plan) != 0)
			plan.norder = 0;
	} else {
		memcpy(plan.order, offered, sizeof(offered));
		plan.norder = AT_CHALLENGE_COUNT;
	}
	for (size_t i = 0; i < plan.norder; i++) {
		int ordered = 0;
		int rc = at_engine_ensure(e, names, 1, &solvers[plan.order[i]], 1, 0, NULL, &ordered);
		if (rc == 0 || !at_engine_fallback(e, rc))
			break;
	}
	at_engine_free(e);
}

static void failing_validation_budget(void)
{
	struct hostile_counts cnt;
	struct at_engine *e = NULL;
	struct at_attempt_plan plan;
	enum at_challenge_type all[] = { AT_CHALLENGE_TLS_ALPN_01, AT_CHALLENGE_HTTP_01, AT_CHALLENGE_DNS_01 };
	at_log_set_level(AT_LOG_ERROR);
	use_fake_clock = 1;
	for (int planned = 1; planned >= 0; planned--) {
		const char *const *names = planned ? FAILS_PLANNED : FAILS_NAIVE;
		hostile_ca_set_mode(hc, HC_AUTHZ_FAILS);
		fake_now = time(NULL);
		time_t t0 = fake_now;
		/* restarted every 30 s for 10 minutes */
		for (int life = 0; life < 20; life++) {
			one_life(names, planned, (unsigned)life);
			fake_now += 30;
		}
		hostile_ca_counts(hc, &cnt);
		printf("  %s: %d failed authorizations at the CA in 10 minutes (%d orders, %d challenges)\n",
		       planned ? "asking the plan" : "every type in turn", cnt.authz_failed, cnt.new_order, cnt.challenges);
		CHECK_INT(cnt.authz_failed, >=, 1);
		CHECK_INT(cnt.authz_failed, <=, 5);
		/* and nothing more until the hour is over */
		REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
		CHECK_OK(at_engine_attempt_plan(e, names, 1, all, 3, &plan));
		CHECK_INT(plan.now_ok, ==, 0);
		CHECK(plan.next_try >= t0 + 3600 - 60);
		CHECK(strstr(plan.last_problem, "the validation failed") != NULL);
		at_engine_free(e);
		/* the rest of the hour, a life every 30 s: still within the budget */
		while (fake_now < t0 + 3600 - 30) {
			one_life(names, planned, 0);
			fake_now += 30;
		}
		hostile_ca_counts(hc, &cnt);
		CHECK_INT(cnt.authz_failed, <=, 5);
	}

	/* The type that last worked comes first. */
	hostile_ca_set_mode(hc, HC_GOOD);
	REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
	int ordered = 0;
	CHECK_OK(at_engine_ensure(e, WORKS, 1, &solvers[AT_CHALLENGE_DNS_01], 1, 0, NULL, &ordered));
	CHECK_INT(ordered, ==, 1);
	CHECK_OK(at_engine_attempt_plan(e, WORKS, 1, all, 3, &plan));
	CHECK_INT(plan.now_ok, ==, 1);
	CHECK_INT(plan.norder, ==, 3);
	CHECK_INT(plan.order[0], ==, AT_CHALLENGE_DNS_01);
	at_engine_free(e);
	use_fake_clock = 0;
	at_log_set_level(AT_LOG_WARN);
}

static const char *SLOW[] = { "slow-dns.hostile.test" };
static volatile int presenting;

/* A DNS-01 solver whose record takes 6 s to show everywhere: it waits, keeping the issuance's lock alive. */
static int present_slowly(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	presenting = 1;
	for (int i = 0; i < 60; i++) {
		usleep(100 * 1000);
		int rc = at_challenge_keepalive(ch);
		if (rc != 0) {
			presenting = 0;
			return rc;
		}
	}
	presenting = 0;
	return 0;
}

struct rival {
	int tries, locked, other;
};

static void *rival_main(void *arg)
{
	struct rival *r = arg;
	struct at_store *st = NULL;
	struct at_engine *e = NULL;
	struct at_solver s = { .type = AT_CHALLENGE_DNS_01, .present = present_nothing };
	if (at_store_open_file(&st, store_dir) != 0 ||
	    new_engine(&e, st, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) != 0) {
		r->other++;
		at_store_close(st);
		return NULL;
	}
	while (!presenting)
		usleep(10 * 1000);
	/* three tries spread over the 6 s wait, each waiting up to 2 s (the engine's poll timeout) for the lock */
	for (int i = 0; i < 3 && presenting; i++) {
		int ordered = 0;
		int rc = at_engine_ensure(e, SLOW, 1, &s, 1, 0, NULL, &ordered);
		r->tries++;
		if (rc == AT_E_LOCKED)
			r->locked++;
		else
			r->other++;
	}
	at_engine_free(e);
	at_store_close(st);
	return NULL;
}

static void dns_wait_longer_than_lease(void)
{
	struct at_engine *e = NULL;
	struct hostile_counts cnt;
	struct rival r = { 0 };
	pthread_t t;
	struct at_solver slow = { .type = AT_CHALLENGE_DNS_01, .present = present_slowly };
	int ordered = 0;

	hostile_ca_set_mode(hc, HC_AUTHZ_FAILS); /* the authorization is pending: the solver is asked */
	REQUIRE(new_engine(&e, store, hostile_ca_directory_url(hc), hostile_ca_ca_file(hc)) == 0);
	REQUIRE(pthread_create(&t, NULL, rival_main, &r) == 0);
	long long t0 = now_ms();
	int rc = at_engine_ensure(e, SLOW, 1, &slow, 1, 0, NULL, &ordered);
	long long ms = now_ms() - t0;
	pthread_join(t, NULL);
	at_engine_free(e);
	hostile_ca_counts(hc, &cnt);
	printf("  a 6 s DNS wait under a 2 s lease: %lld ms, %s; the rival tried %d times, found it locked %d times; "
	       "orders at the CA %d\n", ms, at_strerror(rc), r.tries, r.locked, cnt.new_order);
	CHECK_INT(rc, ==, AT_E_AUTHZ_INVALID); /* the fake CA fails every validation: what matters is the lock */
	CHECK(ms >= 6000);
	CHECK_INT(r.tries, >=, 2);
	CHECK_INT(r.locked, ==, r.tries);
	CHECK_INT(cnt.new_order, ==, 1);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "child") == 0)
		return child_main(argv);
	snprintf(base, sizeof(base), "/tmp/at-resume-XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	snprintf(store_dir, sizeof(store_dir), "%s/store", base);
	snprintf(log_path, sizeof(log_path), "%s/case.log", base);
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	if (hostile_ca_start(&hc, base) != 0 || at_store_open_file(&store, store_dir) != 0) {
		printf("FAIL %s:setup\n", __FILE__);
		hostile_ca_stop(hc);
		return 1;
	}
	RUN(processing_held_is_resumed);
	RUN(ca_clock_ahead);
	RUN(failing_validation_budget);
	RUN(dns_wait_longer_than_lease);
	at_store_close(store);
	hostile_ca_stop(hc);
	int rc = TEST_EXIT();
	if (rc == 0) {
		char cmd[160];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd) != 0)
			return 1;
	}
	return rc;
}
