/*
 * The ACME client against scripted responses through the HTTP seam: what Debian's Pebble 2.4 cannot show
 * (ARI renewalInfo, "replaces" refused and retried without it, profiles), and the retry rules (badNonce,
 * rateLimited with Retry-After) plus hostile answers (a huge body, a wrong content type, a chain for another
 * key). Each step names the request it expects; a request out of script fails the test.
 */
#include "acme/acme.h"
#include "tests/harness/files.h"
#include "tests/harness/certgen.h"
#include "tests/harness/scripted_http.h"
#include "tests/test.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define CA "https://ca.test"

static const char *DIR_ARI =
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA "/order\","
	"\"revokeCert\":\"" CA "/revoke\",\"renewalInfo\":\"" CA "/ari\","
	"\"meta\":{\"termsOfService\":\"" CA "/tos\",\"profiles\":{\"classic\":\"90 days\",\"shortlived\":\"6 days\"}}}";
static const char *DIR_PLAIN =
	"{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA "/order\"}";

#define J "application/json"
#define P "application/problem+json"

/* notBefore of the next make_cert, in seconds from now. */
static long cert_not_before = -60;

/* A self-signed certificate for names with key, as PEM (caller frees). */
static char *make_cert(EVP_PKEY *key, const char *const *names, size_t n)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), cert_not_before);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"scripted", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, key);
	char san[512] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(san + strlen(san), sizeof(san) - strlen(san), "%sDNS:%s", i ? "," : "", names[i]);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	X509_sign(x, key, EVP_sha256());
	char *out = harness_cert_pem(x, NULL);
	X509_free(x);
	return out;
}

struct fixture {
	struct script s;
	struct at_http_ops ops;
	struct at_acme *c;
	struct at_jws_key *account;
	EVP_PKEY *cert_key;
	char *chain;
};

static int fixture_start(struct fixture *f, const struct step *steps, size_t n, const char *const *names, size_t nn)
{
	memset(f, 0, sizeof(*f));
	f->s.steps = steps;
	f->s.n = n;
	f->ops.perform = scripted_perform;
	f->ops.ctx = &f->s;
	struct at_acme_config cfg = { .directory_url = CA "/dir", .http = &f->ops, .poll_timeout_ms = 5000 };
	if (at_acme_new(&f->c, &cfg) != 0 || at_jws_key_generate(&f->account, AT_KEY_P256) != 0 ||
	    at_key_generate(&f->cert_key, AT_KEY_P256) != 0)
		return -1;
	f->chain = make_cert(f->cert_key, names, nn);
	f->s.chain = f->chain;
	return 0;
}

static void fixture_stop(struct fixture *f)
{
	at_acme_free(f->c);
	at_jws_key_free(f->account);
	EVP_PKEY_free(f->cert_key);
	free(f->chain);
}

static const char *ONE[] = { "a.example.test" };

/* fixture_start for ONE on copy: steps (n of them) with the first answer, the directory's, made dir. copy must
 * live as long as f. */
static int fixture_start_dir(struct fixture *f, struct step *copy, const struct step *steps, size_t n,
			     const char *dir)
{
	memcpy(copy, steps, n * sizeof(*copy));
	copy[0].body = dir;
	return fixture_start(f, copy, n, ONE, 1);
}

/* Authorization already valid, order ready, finalize, valid, download: the tail every scenario shares. */
#define TAIL_STEPS                                                                                              \
	{ "POST", CA "/authz/1", 200, J, "{\"status\":\"valid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example.test\"}}" }, \
	{ "POST", CA "/order/1", 200, J, "{\"status\":\"ready\",\"finalize\":\"" CA "/finalize/1\",\"authorizations\":[\"" CA "/authz/1\"]}" }, \
	{ "POST", CA "/finalize/1", 200, J, "{\"status\":\"processing\",\"finalize\":\"" CA "/finalize/1\"}", NULL, "0" }, \
	{ "POST", CA "/order/1", 200, J, "{\"status\":\"valid\",\"certificate\":\"" CA "/cert/1\"}" }, \
	{ "POST", CA "/cert/1", 200, "application/pem-certificate-chain", "@CHAIN" }

#define ORDER_CREATED "{\"status\":\"pending\",\"finalize\":\"" CA "/finalize/1\",\"authorizations\":[\"" CA "/authz/1\"]}"

static void replaces_refused_then_dropped_with_profile(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/acct", 201, J, "{\"status\":\"valid\"}", CA "/acct/7", NULL, NULL, "termsOfServiceAgreed" },
		{ "POST", CA "/order", 409, P, "{\"type\":\"urn:ietf:params:acme:error:alreadyReplaced\",\"detail\":\"no\"}",
		  NULL, NULL, NULL, "\"replaces\":\"AAA.BBB\"" },
		{ "POST", CA "/order", 201, J, ORDER_CREATED, CA "/order/1", NULL, NULL, "\"profile\":\"shortlived\"", "replaces" },
		TAIL_STEPS,
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_ARI) == 0);
	struct at_acme_account_opts ao = { .agree_tos = 1 };
	char *url = NULL;
	CHECK_OK(at_acme_account(f.c, f.account, &ao, &url));
	CHECK_STR(url, CA "/acct/7");
	free(url);
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none,
					 .nsolvers = 1, .profile = "shortlived", .replaces = "AAA.BBB" };
	struct at_acme_cert cert;
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	CHECK_INT(cert.replaces_dropped, ==, 1);
	CHECK_INT(f.s.off_script, ==, 0);
	CHECK_INT(f.s.pos, ==, f.s.n);
	at_acme_cert_clear(&cert);
	fixture_stop(&f);
}

static void profile_not_offered(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order", 201, J, ORDER_CREATED, CA "/order/1", NULL, NULL, "identifiers", "profile" },
		TAIL_STEPS,
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none,
					 .nsolvers = 1, .profile = "shortlived", .replaces = "AAA.BBB" };
	struct at_acme_cert cert;
	/* Required but not offered: refused before any order. */
	oo.profile_required = 1;
	CHECK_INT(at_acme_obtain(f.c, &oo, &cert), ==, AT_E_UNSUPPORTED);
	/* Preferred: ordered without it, and without "replaces" since this CA has no ARI. */
	oo.profile_required = 0;
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	CHECK_INT(f.s.off_script, ==, 0);
	CHECK_INT(f.s.pos, ==, f.s.n);
	at_acme_cert_clear(&cert);
	fixture_stop(&f);
}

static void badnonce_and_ratelimit_retried(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order", 400, P, "{\"type\":\"urn:ietf:params:acme:error:badNonce\"}" },
		{ "POST", CA "/order", 400, P, "{\"type\":\"urn:ietf:params:acme:error:badNonce\"}" },
		{ "POST", CA "/order", 429, P, "{\"type\":\"urn:ietf:params:acme:error:rateLimited\"}", NULL, "1" },
		{ "POST", CA "/order", 201, J, ORDER_CREATED, CA "/order/1" },
		TAIL_STEPS,
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none, .nsolvers = 1 };
	struct at_acme_cert cert;
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	CHECK_INT(f.s.off_script, ==, 0);
	at_acme_cert_clear(&cert);
	fixture_stop(&f);
}

static void long_ratelimit_is_returned(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order", 429, P, "{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"detail\":\"slow down\"}",
		  NULL, "3600" },
	};
	struct step s0[2];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, 2, DIR_PLAIN) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none, .nsolvers = 1 };
	struct at_acme_cert cert;
	CHECK_INT(at_acme_obtain(f.c, &oo, &cert), ==, AT_E_RATELIMITED);
	CHECK_INT(at_acme_last_problem(f.c)->retry_after, ==, 3600);
	CHECK_STR(at_acme_last_problem(f.c)->detail, "slow down");
	fixture_stop(&f);
}

static void hostile_chain_refused(void)
{
	/* The CA hands back a certificate for our names but another key: it must never be accepted. */
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order", 201, J, ORDER_CREATED, CA "/order/1" },
		TAIL_STEPS,
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN) == 0);
	EVP_PKEY *other = NULL;
	REQUIRE(at_key_generate(&other, AT_KEY_P256) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = other, .solvers = &none, .nsolvers = 1 };
	struct at_acme_cert cert;
	CHECK_INT(at_acme_obtain(f.c, &oo, &cert), ==, AT_E_KEY_MISMATCH);
	EVP_PKEY_free(other);
	fixture_stop(&f);
}

static void wrong_content_type_refused(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, "text/html", "<html>not a directory</html>" },
	};
	struct fixture f;
	REQUIRE(fixture_start(&f, steps, 1, ONE, 1) == 0);
	struct at_acme_directory_info di;
	CHECK_INT(at_acme_directory(f.c, &di), ==, AT_E_PARSE);
	fixture_stop(&f);
}

static void ari_renewal_info(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "GET", CA "/ari/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", 200, J,
		  "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"},"
		  "\"explanationURL\":\"https://ca.test/why\"}", NULL, "21600" },
	};
	struct step s0[2];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, 2, DIR_ARI) == 0);
	struct at_ari_window w;
	memset(&w, 0, sizeof(w));
	CHECK_OK(at_acme_renewal_info(f.c, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &w));
	CHECK_INT(w.start, ==, 1735790400L);
	CHECK_INT(w.end, ==, 1735876800L);
	CHECK_INT(w.retry_after, ==, 21600);
	CHECK_STR(w.explanation_url, "https://ca.test/why");
	at_ari_window_clear(&w);
	fixture_stop(&f);
}

static void ari_absent(void)
{
	const struct step steps[] = { { "GET", CA "/dir", 200, J, NULL } };
	struct step s0[1];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, 1, DIR_PLAIN) == 0);
	struct at_ari_window w;
	memset(&w, 0, sizeof(w));
	CHECK_INT(at_acme_renewal_info(f.c, "x.y", &w), ==, AT_E_UNSUPPORTED);
	fixture_stop(&f);
}

static int saw_order(void *ctx, const char *url)
{
	snprintf(ctx, 64, "%s", url);
	return 0;
}

/* A kept order is resumed from where it stands: valid means download at once; one the CA no longer has is
 * replaced by a new order (and the caller told its URL). */
static void resume_valid_and_gone(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order/5", 200, J, "{\"status\":\"valid\",\"certificate\":\"" CA "/cert/1\"}" },
		{ "POST", CA "/cert/1", 200, "application/pem-certificate-chain", "@CHAIN" },
		{ "POST", CA "/order/6", 404, P, "{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"no such order\"}" },
		{ "POST", CA "/order", 201, J, ORDER_CREATED, CA "/order/1" },
		TAIL_STEPS,
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	char seen[64] = "";
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none,
					 .nsolvers = 1, .resume_url = CA "/order/5", .on_order = saw_order,
					 .on_order_ctx = seen };
	struct at_acme_cert cert;
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	CHECK_INT(at_acme_last_finalized(f.c), ==, 1);
	CHECK_STR(seen, "");
	at_acme_cert_clear(&cert);
	oo.resume_url = CA "/order/6";
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	CHECK_STR(seen, CA "/order/1");
	CHECK_INT(f.s.off_script, ==, 0);
	CHECK_INT(f.s.pos, ==, f.s.n);
	at_acme_cert_clear(&cert);
	fixture_stop(&f);
}

/* A Retry-After past the wait ends it at once, with the CA's delay for the caller's scheduler. */
static void retry_after_past_the_wait(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order/5", 200, J, "{\"status\":\"processing\"}" },
		{ "POST", CA "/order/5", 200, J, "{\"status\":\"processing\"}", NULL, "600" },
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none,
					 .nsolvers = 1, .resume_url = CA "/order/5" };
	struct at_acme_cert cert;
	CHECK_INT(at_acme_obtain(f.c, &oo, &cert), ==, AT_E_TIMEOUT);
	CHECK_INT(at_acme_last_finalized(f.c), ==, 1);
	CHECK_INT(at_acme_last_problem(f.c)->retry_after, ==, 600);
	CHECK_INT(f.s.off_script, ==, 0);
	CHECK_INT(f.s.pos, ==, f.s.n);
	fixture_stop(&f);
}

/* The fork-quiesce lock of a host, as the manager holds it: taken while the client works, released by the wait
 * hooks. */
static pthread_mutex_t quiesce = PTHREAD_MUTEX_INITIALIZER;
static int hook_waits;
static void hook_leave(void)
{
	hook_waits++;
	pthread_mutex_unlock(&quiesce);
}
static void hook_enter(void)
{
	pthread_mutex_lock(&quiesce);
}

static void *forker(void *arg)
{
	long long *waited_ms = arg;
	struct timespec t0, t1, pause = { 0, 300 * 1000000L };
	nanosleep(&pause, NULL); /* the client is in its Retry-After pause by now */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&quiesce); /* what pthread_atfork's prepare handler does */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_mutex_unlock(&quiesce);
	*waited_ms = (t1.tv_sec - t0.tv_sec) * 1000LL + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	return NULL;
}

/* The client's pauses (here a 3 s Retry-After while the order is processing) go through the wait hooks, so a
 * host's fork() (which takes the quiesce lock) is not held up by them. */
static void retry_after_pause_releases_quiesce(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order/5", 200, J, "{\"status\":\"processing\"}" },
		{ "POST", CA "/order/5", 200, J, "{\"status\":\"processing\"}", NULL, "3" },
		{ "POST", CA "/order/5", 200, J, "{\"status\":\"valid\",\"certificate\":\"" CA "/cert/1\"}" },
		{ "POST", CA "/cert/1", 200, "application/pem-certificate-chain", "@CHAIN" },
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	pthread_t t;
	long long waited_ms = -1;
	REQUIRE(fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN) == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none,
					 .nsolvers = 1, .resume_url = CA "/order/5" };
	struct at_acme_cert cert;
	at_http_set_wait_hooks(hook_leave, hook_enter);
	pthread_mutex_lock(&quiesce);
	REQUIRE(pthread_create(&t, NULL, forker, &waited_ms) == 0);
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	pthread_mutex_unlock(&quiesce);
	pthread_join(t, NULL);
	at_http_set_wait_hooks(NULL, NULL);
	CHECK_INT(hook_waits, >=, 1);
	CHECK(waited_ms >= 0 && waited_ms < 500); /* not the 3 s pause */
	CHECK_INT(f.s.off_script, ==, 0);
	at_acme_cert_clear(&cert);
	fixture_stop(&f);
}

/* A CA whose clock is an hour ahead of ours (its Date header says so) backdates notBefore by a minute: the
 * certificate is valid only from 59 minutes from now by our clock. It is kept, with one warning naming the skew. */
static void ca_clock_ahead_kept(void)
{
	char date[64], log_path[] = "/tmp/at-skew-XXXXXX";
	time_t ahead = time(NULL) + 3600;
	struct tm tm;
	gmtime_r(&ahead, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, J, NULL },
		{ "POST", CA "/order", 201, J, ORDER_CREATED, CA "/order/1" },
		{ "POST", CA "/authz/1", 200, J, "{\"status\":\"valid\",\"identifier\":{\"type\":\"dns\",\"value\":\"a.example.test\"}}" },
		{ "POST", CA "/order/1", 200, J, "{\"status\":\"ready\",\"finalize\":\"" CA "/finalize/1\",\"authorizations\":[\"" CA "/authz/1\"]}" },
		{ "POST", CA "/finalize/1", 200, J, "{\"status\":\"valid\",\"certificate\":\"" CA "/cert/1\"}" },
		{ "POST", CA "/cert/1", 200, "application/pem-certificate-chain", "@CHAIN", .date = date },
	};
	struct step s0[sizeof(steps) / sizeof(steps[0])];
	struct fixture f;
	int fd = mkstemp(log_path);
	REQUIRE(fd >= 0);
	close(fd);
	cert_not_before = 3600 - 60;
	int started = fixture_start_dir(&f, s0, steps, sizeof(s0) / sizeof(s0[0]), DIR_PLAIN);
	cert_not_before = -60;
	REQUIRE(started == 0);
	CHECK_OK(at_acme_use_account(f.c, f.account, CA "/acct/7"));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	struct at_acme_order_opts oo = { .names = ONE, .nnames = 1, .cert_key = f.cert_key, .solvers = &none, .nsolvers = 1 };
	struct at_acme_cert cert;
	REQUIRE(at_log_open(AT_LOG_SINK_FILE, log_path, AT_LOG_INFO) == 0);
	CHECK_OK(at_acme_obtain(f.c, &oo, &cert));
	at_log_open(AT_LOG_SINK_STDERR, NULL, AT_LOG_WARN);
	long skew = 0;
	CHECK_OK(at_acme_clock_skew(f.c, &skew));
	CHECK(skew >= 3598 && skew <= 3601);
	CHECK_INT(harness_file_count_lines(log_path, "ahead of this host's clock"), ==, 1);
	CHECK_INT(harness_file_count_lines(log_path, "+3"), ==, 1); /* the skew is named */
	CHECK_INT(f.s.off_script, ==, 0);
	CHECK_INT(f.s.pos, ==, f.s.n);
	at_acme_cert_clear(&cert);
	unlink(log_path);
	fixture_stop(&f);
}

int main(void)
{
	RUN(replaces_refused_then_dropped_with_profile);
	RUN(profile_not_offered);
	RUN(badnonce_and_ratelimit_retried);
	RUN(long_ratelimit_is_returned);
	RUN(hostile_chain_refused);
	RUN(wrong_content_type_refused);
	RUN(ari_renewal_info);
	RUN(ari_absent);
	RUN(ca_clock_ahead_kept);
	RUN(resume_valid_and_gone);
	RUN(retry_after_past_the_wait);
	RUN(retry_after_pause_releases_quiesce);
	return TEST_EXIT();
}
