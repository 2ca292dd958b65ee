/*
 * A hostile CA against the real client (acme/ over libcurl, driven by the engine). For each way the fake CA
 * (tests/harness/hostile_ca.h) misbehaves, a forced renewal of a name whose live record came from a good run
 * must end in the expected error within a time bound, without growing the process (the peak RSS is reset before
 * each case), with every log line one line, with the live records (that name's and another name's, written
 * directly) byte-identical and nothing new under certificates/ or staging/; and the same engine must then still
 * serve: the other name is returned without an order, and a fresh issuance succeeds once the CA behaves.
 * An order that ran out of time (the slow drip, endless processing) is kept to be resumed, every other one is
 * dropped; each case then starts without it. Through the slow drip's one long request the engine's hold hook
 * (where the shim keeps its fleet lock) still runs about every second: an issue lock's lease outlives a slow CA.
 *
 * The engine has no request timeout knob (the client's default, 15 s, applies); poll_timeout_ms is 3 s.
 */
#include "engine/engine.h"
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/certgen.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/proc.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/log.h"
#include "util/x509.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_TIMEOUT_MS 3000

static char base[64];
static char store_dir[128];
static char log_path[160];
static struct hostile_ca *hc;
static struct at_store *store;
static char ca_comp[256];

static const char *SAME[] = { "same.hostile.test" };
static const char *OTHER[] = { "other.hostile.test" };
static const char *RECOVER[] = { "recover.hostile.test" };

/* Authorizations are already valid: the solver is never asked to present. */
static struct at_solver solver = { .type = AT_CHALLENGE_HTTP_01 };

struct expect {
	enum hostile_mode mode;
	int err;      /* the exact code at_engine_ensure returns */
	long max_ms;  /* upper bound on its duration */
};

static const struct expect cases[] = {
	{ HC_MALFORMED_JSON, AT_E_PARSE, 3000 },
	{ HC_HUGE_LENGTH, AT_E_TOOBIG, 5000 },
	{ HC_HUGE_CHUNKED, AT_E_TOOBIG, 5000 },
	{ HC_HUGE_CLOSE, AT_E_TOOBIG, 5000 },
	{ HC_HTML_DIRECTORY, AT_E_PARSE, 3000 },
	{ HC_JSON_CERT, AT_E_PARSE, 3000 },
	{ HC_REDIRECT, AT_E_REDIRECT, 3000 },
	/* The client's request timeout (15 s) or its low-speed limit (under 1 B/s for 10 s) ends it. */
	{ HC_SLOW_DRIP, AT_E_TIMEOUT, 17000 },
	{ HC_OTHER_NAMES, AT_E_NAMES, 3000 },
	{ HC_OTHER_KEY, AT_E_KEY_MISMATCH, 3000 },
	{ HC_CHAIN_GARBAGE, AT_E_PARSE, 3000 },
	{ HC_CHAIN_UNLINKED, AT_E_CHAIN, 3000 },
	{ HC_SELF_ISSUED, AT_E_CHAIN, 3000 },
	{ HC_ENDLESS_PROCESSING, AT_E_TIMEOUT, POLL_TIMEOUT_MS + 2000 },
	{ HC_MANY_AUTHZ, AT_E_PARSE, 3000 },
	{ HC_HUGE_PROBLEM, AT_E_HTTP, 3000 },
	{ HC_PROBLEM_CONTROL, AT_E_ACME, 3000 },
};

/* Resident and peak resident KiB (/proc/self/status). */
static void rss_kib(long *rss, long *hwm)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	*rss = *hwm = -1;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
}

/* Resets the peak (Linux clear_refs "5"); 0 when it worked. */
static int reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f == NULL)
		return -1;
	int ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* ---- the store's tree as text: every path under certificates/ and staging/ with its size ---- */

static char *snap_buf;
static size_t snap_len, snap_cap;

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	char line[PATH_MAX + 64];
	int n = snprintf(line, sizeof(line), "%s %c %lld\n", path + strlen(store_dir), flag == FTW_D ? 'd' : 'f',
			 flag == FTW_D ? 0LL : (long long)st->st_size);
	if (n < 0)
		return 0;
	if (snap_len + (size_t)n + 1 > snap_cap) {
		size_t cap = (snap_cap + (size_t)n + 1) * 2;
		char *b = realloc(snap_buf, cap);
		if (b == NULL)
			return -1;
		snap_buf = b;
		snap_cap = cap;
	}
	memcpy(snap_buf + snap_len, line, (size_t)n + 1);
	snap_len += (size_t)n;
	return 0;
}

/* A new string; NULL on failure. Absent folders give "". */
static char *snapshot(void)
{
	static const char *const tops[] = { "certificates", "staging" };
	snap_buf = NULL;
	snap_len = snap_cap = 0;
	snap_one(store_dir, &(struct stat){ 0 }, FTW_D, NULL); /* never empty */
	for (size_t i = 0; i < 2; i++) {
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", store_dir, tops[i]);
		if (access(p, F_OK) == 0 && nftw(p, snap_one, 16, FTW_PHYS) != 0) {
			free(snap_buf);
			return NULL;
		}
	}
	return snap_buf;
}

/* The live record's bytes for name. */
static int record_bytes(const char *name, char **out, size_t *len)
{
	char key[512];
	int rc = at_store_key(key, sizeof(key), "certificates", ca_comp, name, "record", (char *)NULL);
	return rc ? rc : at_store_load(store, key, out, len);
}

/* The engine's hold hook (engine.h: the shim keeps its fleet lock alive there): the longest time between two of
 * its calls during the case, which one slow request (the drip: some 10 s) must not stretch past a few seconds. */
static long long hook_last_ms, hook_gap_ms;

static void hook_called(void *ctx)
{
	(void)ctx;
	long long now = harness_now_ms();
	if (hook_last_ms != 0 && now - hook_last_ms > hook_gap_ms)
		hook_gap_ms = now - hook_last_ms;
	hook_last_ms = now;
}

static int new_engine(struct at_engine **e)
{
	struct at_engine_config ec = {
		.hold_hook = hook_called,
		.directory_url = hostile_ca_directory_url(hc),
		.ca_file = hostile_ca_ca_file(hc),
		.email = "ops@hostile.test",
		.key_type = AT_KEY_P256,
		.account_key_type = AT_KEY_P256,
		.store = store,
		.poll_timeout_ms = POLL_TIMEOUT_MS,
	};
	return at_engine_new(e, &ec);
}

/* Whether the store keeps a pending order for name (to be resumed). */
static int pending_order(const char *name)
{
	char key[512], *v = NULL;
	size_t len = 0;
	if (at_store_key(key, sizeof(key), "orders", ca_comp, name, "pending", (char *)NULL) != 0)
		return -1;
	int rc = at_store_load(store, key, &v, &len);
	at_secret_free(v, len);
	return rc == 0;
}

static void drop_pending_orders(void)
{
	char key[512];
	if (at_store_key(key, sizeof(key), "orders", (char *)NULL) == 0) {
		strcat(key, "/");
		if (at_store_del(store, key) != 0)
			fprintf(stderr, "  could not drop the pending orders\n");
	}
}

/* Every line of the case's log starts with a timestamp and fits the logger's line: no forged lines. */
static int log_lines_ok(int *nlines)
{
	FILE *f = fopen(log_path, "r");
	char line[4096];
	int ok = 1;
	*nlines = 0;
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		(*nlines)++;
		size_t n = strlen(line);
		if (n > 1024 || line[n - 1] != '\n' || strncmp(line, "20", 2) != 0 || strstr(line, " autotls[") == NULL) {
			fprintf(stderr, "  log line %d is not one line of ours: %.80s\n", *nlines, line);
			ok = 0;
		}
	}
	fclose(f);
	return ok;
}

/* ---- set-up: a good run for SAME through the fake, a record for OTHER written directly ---- */

static void setup_good_run(void)
{
	struct at_engine *e = NULL;
	struct at_cert_record rec;
	int ordered = 0;

	REQUIRE(new_engine(&e) == 0);
	snprintf(ca_comp, sizeof(ca_comp), "%s", at_engine_ca(e));
	hostile_ca_set_mode(hc, HC_GOOD);
	int rc = at_engine_ensure(e, SAME, 1, &solver, 1, 0, &rec, &ordered);
	if (rc != 0)
		fprintf(stderr, "  good run: %s\n", at_strerror(rc));
	CHECK_OK(rc);
	CHECK_INT(ordered, ==, 1);
	if (rc == 0) {
		/* The fake's good path is a real chain: it verifies to the fake's CA. */
		X509_STORE *trust = NULL;
		CHECK_OK(at_trust_from_pem_file(&trust, hostile_ca_ca_file(hc)));
		CHECK_OK(at_chain_check(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, SAME, 1, trust,
					AT_CHECK_NAMES_EXACT | AT_CHECK_NOT_EXPIRED, NULL));
		X509_STORE_free(trust);
		at_cert_record_clear(&rec);
	}
	at_engine_free(e);

	char *kp = NULL, *cp = NULL;
	size_t kl = 0, cl = 0;
	REQUIRE(harness_self_signed_pem(&kp, &kl, &cp, &cl, "DNS:other.hostile.test") == 0);
	struct at_cert_record other = {
		.key_pem = kp, .key_len = kl, .chain_pem = cp, .chain_len = cl, .names = (char **)OTHER, .nnames = 1,
	};
	CHECK_OK(at_cert_record_save(store, ca_comp, &other));
	free(kp);
	free(cp);
}

/* ---- one hostile case ---- */

static void run_case(const struct expect *x)
{
	struct at_engine *e = NULL;
	char *same0 = NULL, *other0 = NULL, *same1 = NULL, *other1 = NULL, *tree0 = NULL, *tree1 = NULL;
	size_t same0_len = 0, other0_len = 0, same1_len = 0, other1_len = 0;
	struct hostile_counts cnt;
	int ordered = 0, nlines = 0;
	long rss0, hwm0, rss1, hwm1;
	const char *name = hostile_mode_name(x->mode);

	REQUIRE(new_engine(&e) == 0);
	REQUIRE(record_bytes(SAME[0], &same0, &same0_len) == 0);
	REQUIRE(record_bytes(OTHER[0], &other0, &other0_len) == 0);
	REQUIRE((tree0 = snapshot()) != NULL);

	hostile_ca_set_mode(hc, x->mode);
	unlink(log_path);
	REQUIRE(at_log_open(AT_LOG_SINK_FILE, log_path, AT_LOG_INFO) == 0);
	int peak_reset = reset_peak() == 0;
	rss_kib(&rss0, &hwm0);
	long long t0 = harness_now_ms();
	hook_last_ms = t0;
	hook_gap_ms = 0;
	int rc = at_engine_ensure(e, SAME, 1, &solver, 1, 1, NULL, &ordered);
	long long ms = harness_now_ms() - t0;
	hook_called(NULL);
	rss_kib(&rss1, &hwm1);
	at_log_open(AT_LOG_SINK_STDERR, NULL, AT_LOG_WARN);
	hostile_ca_counts(hc, &cnt);
	const struct at_problem *pr = at_acme_last_problem(at_engine_acme(e));
	size_t detail_len = pr->detail ? strlen(pr->detail) : 0;

	printf("  %-42s %-22s %6lld ms  rss %+6ld KiB  peak %+6ld KiB  reqs dir %d nonce %d acct %d order %d "
	       "authz %d fin %d poll %d cert %d  conn %d  redirect-target %d  streamed %lld\n",
	       name, at_strerror(rc), ms, rss1 - rss0, peak_reset ? hwm1 - rss0 : -1, cnt.directory, cnt.nonce,
	       cnt.account, cnt.new_order, cnt.authz, cnt.finalize, cnt.order_polls, cnt.cert, cnt.connections,
	       cnt.redirect_target, cnt.streamed);
	fflush(stdout);

	/* A clear error of the expected band, in bounded time and memory. */
	if (rc != x->err)
		fprintf(stderr, "  %s: expected %s (%d), got %s (%d)\n", name, at_strerror(x->err), x->err,
			at_strerror(rc), rc);
	CHECK_INT(rc, ==, x->err);
	CHECK_INT(at_err_band(rc), ==, at_err_band(x->err));
	CHECK_INT(ordered, ==, 0);
	CHECK_INT(ms, <=, x->max_ms);
	CHECK_INT(rss1 - rss0, <, 16 * 1024);
	if (peak_reset)
		CHECK_INT(hwm1 - rss0, <, 16 * 1024);
	CHECK(log_lines_ok(&nlines));
	CHECK_INT(nlines, <=, 20);
	CHECK_INT(detail_len, <=, 1024);
	CHECK_INT(cnt.redirect_target, ==, 0);

	/* Per mode: the client stopped where it should have. */
	switch (x->mode) {
	case HC_SLOW_DRIP:
		/* The issue lock's lease is kept alive through the one request that drips for some 10 s: the hold
		 * hook (and the lease's refresh beside it) runs about every second of it, not only at its end. */
		printf("  hold hook: longest gap %lld ms over %lld ms\n", hook_gap_ms, ms);
		CHECK_INT(ms, >=, 5000);
		CHECK_INT(hook_gap_ms, <=, 2500);
		break;
	case HC_HUGE_LENGTH:
	case HC_HUGE_CHUNKED:
	case HC_HUGE_CLOSE:
		CHECK_INT(cnt.cert, ==, 1);
		CHECK_INT(cnt.streamed, <, 20LL * 1000 * 1000); /* it hung up long before 50 MB */
		break;
	case HC_REDIRECT:
		CHECK_INT(cnt.cert, ==, 1);
		break;
	case HC_ENDLESS_PROCESSING:
		CHECK_INT(cnt.order_polls, >=, 2);
		CHECK_INT(cnt.order_polls, <=, 60); /* backed off, not a hot loop on Retry-After: 0 */
		break;
	case HC_MANY_AUTHZ:
		CHECK_INT(cnt.authz, ==, 0);
		CHECK_INT(cnt.finalize, ==, 0);
		break;
	case HC_PROBLEM_CONTROL:
		CHECK(pr->detail != NULL && strncmp(pr->detail, "HOSTILE-START", 13) == 0);
		break;
	default:
		break;
	}
	/* Out of time after the order was placed: kept to be resumed (and no other challenge type may be tried:
	 * the CSR went in). Anything else: the order is spent. */
	int resumable = x->mode == HC_SLOW_DRIP || x->mode == HC_ENDLESS_PROCESSING;
	CHECK_INT(pending_order(SAME[0]), ==, resumable);
	CHECK_INT(at_engine_fallback(e, rc), ==, 0);
	drop_pending_orders();

	/* Nothing bad stored: both live records byte-identical, nothing new in the tree. */
	CHECK_OK(record_bytes(SAME[0], &same1, &same1_len));
	CHECK_OK(record_bytes(OTHER[0], &other1, &other1_len));
	CHECK(same1 && same1_len == same0_len && memcmp(same0, same1, same0_len) == 0);
	CHECK(other1 && other1_len == other0_len && memcmp(other0, other1, other0_len) == 0);
	tree1 = snapshot();
	CHECK(tree1 != NULL && strcmp(tree0, tree1) == 0);
	if (tree1 && strcmp(tree0, tree1) != 0)
		fprintf(stderr, "  tree before:\n%s  tree after:\n%s", tree0, tree1);
	struct at_cert_record rec;
	CHECK_OK(at_cert_record_load(store, ca_comp, SAME[0], &rec));
	at_cert_record_clear(&rec);

	/* Keeps serving: the same engine returns the other name without an order, and issues once the CA
	 * behaves again. */
	CHECK_OK(at_engine_ensure(e, OTHER, 1, &solver, 1, 0, NULL, &ordered));
	CHECK_INT(ordered, ==, 0);
	hostile_ca_set_mode(hc, HC_GOOD);
	t0 = harness_now_ms();
	rc = at_engine_ensure(e, RECOVER, 1, &solver, 1, 1, NULL, &ordered);
	ms = harness_now_ms() - t0;
	if (rc != 0)
		fprintf(stderr, "  after %s: the good issuance failed: %s\n", name, at_strerror(rc));
	CHECK_OK(rc);
	CHECK_INT(ordered, ==, 1);
	CHECK_INT(ms, <=, 3000);

	at_engine_free(e);
	at_secret_free(same0, same0_len);
	at_secret_free(other0, other0_len);
	at_secret_free(same1, same1_len);
	at_secret_free(other1, other1_len);
	free(tree0);
	free(tree1);
}

#define CASE(fn, idx)                                                                                          \
	static void fn(void)                                                                                    \
	{                                                                                                       \
		run_case(&cases[idx]);                                                                          \
	}

CASE(malformed_json, 0)
CASE(huge_content_length, 1)
CASE(huge_chunked, 2)
CASE(huge_until_close, 3)
CASE(html_directory, 4)
CASE(json_certificate, 5)
CASE(redirect_not_followed, 6)
CASE(slow_drip, 7)
CASE(certificate_for_other_names, 8)
CASE(certificate_for_other_key, 9)
CASE(garbage_intermediate, 10)
CASE(unrelated_intermediate, 11)
CASE(self_issued_leaf, 12)
CASE(endless_processing, 13)
CASE(many_authorizations, 14)
CASE(huge_problem_detail, 15)
CASE(problem_control_characters, 16)

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/at-hostile-ca-XXXXXX");
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
	RUN(setup_good_run);
	if (test_failed_total == 0) {
		RUN(malformed_json);
		RUN(huge_content_length);
		RUN(huge_chunked);
		RUN(huge_until_close);
		RUN(html_directory);
		RUN(json_certificate);
		RUN(redirect_not_followed);
		RUN(slow_drip);
		RUN(certificate_for_other_names);
		RUN(certificate_for_other_key);
		RUN(garbage_intermediate);
		RUN(unrelated_intermediate);
		RUN(self_issued_leaf);
		RUN(endless_processing);
		RUN(many_authorizations);
		RUN(huge_problem_detail);
		RUN(problem_control_characters);
	}
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
