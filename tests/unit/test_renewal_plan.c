/*
 * When the manager renews: the lifetime rule (a third left, half under ten days, plus a bounded jitter after
 * it) and ARI (RFC 9773) through scripted renewalInfo answers: a random time in the window even when it has
 * begun, the CA advancing and postponing (up to a twentieth of the lifetime left), a CA error falls back,
 * Retry-After sets the next look, the answer kept in the store for a restarted manager.
 */
#include "engine/engine.h"
#include "tests/harness/certgen.h"
#include "tests/harness/scripted_http.h"
#include "tests/test.h"
#include "util/err.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define CA "https://ca.test"
#define DAY 86400L

static const char *DIR_ARI = "{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA
			     "/order\",\"renewalInfo\":\"" CA "/ari\"}";
static const char *DIR_PLAIN = "{\"newNonce\":\"" CA "/nonce\",\"newAccount\":\"" CA "/acct\",\"newOrder\":\"" CA
			       "/order\"}";

static char store_dir[] = "/tmp/at-plan-XXXXXX";

/* A certificate valid from now+nb to now+na (seconds), with an AKI so that it has an ARI identifier. */
static char *make_cert(long nb, long na, struct at_cert_record *rec)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1234);
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"plan", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, k);
	AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();
	ak->keyid = ASN1_OCTET_STRING_new();
	ASN1_OCTET_STRING_set(ak->keyid, (const unsigned char *)"0123456789abcdefghij", 20);
	X509_add1_ext_i2d(x, NID_authority_key_identifier, ak, 0, X509V3_ADD_DEFAULT);
	AUTHORITY_KEYID_free(ak);
	X509_sign(x, k, EVP_sha256());
	size_t n = 0;
	char *pem = harness_cert_pem(x, &n);
	memset(rec, 0, sizeof(*rec));
	rec->chain_pem = pem;
	rec->chain_len = n;
	if (at_cert_info_get(&rec->info, x) != 0)
		rec->info.not_after = 0;
	X509_free(x);
	EVP_PKEY_free(k);
	return pem;
}

/* An ARI answer whose suggested window is [start, end] (UTC, to the second) into body. */
static void window_body(char *body, size_t cap, time_t start, time_t end)
{
	struct tm a, b;

	gmtime_r(&start, &a);
	gmtime_r(&end, &b);
	snprintf(body, cap,
		 "{\"suggestedWindow\":{\"start\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\",\"end\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\"}}",
		 a.tm_year + 1900, a.tm_mon + 1, a.tm_mday, a.tm_hour, a.tm_min, a.tm_sec, b.tm_year + 1900, b.tm_mon + 1,
		 b.tm_mday, b.tm_hour, b.tm_min, b.tm_sec);
}

struct plan {
	time_t renew_at, recheck_at;
	int from_ari;
	int rc;
	int off_script;
};

static struct plan run(const struct step *steps, size_t n, long nb, long na)
{
	struct script s = { .steps = steps, .n = n };
	struct at_http_ops ops = { .perform = scripted_perform, .ctx = &s };
	struct at_store *st = NULL;
	struct at_engine *e = NULL;
	struct at_cert_record rec;
	struct plan p = { .rc = -1 };
	if (at_store_open_file(&st, store_dir) != 0)
		return p;
	struct at_engine_config ec = { .directory_url = CA "/dir", .store = st, .http = &ops };
	if (at_engine_new(&e, &ec) == 0) {
		make_cert(nb, na, &rec);
		p.rc = at_engine_renewal_plan(e, &rec, 12345, &p.renew_at, &p.recheck_at, &p.from_ari);
		free(rec.chain_pem);
		at_cert_info_clear(&rec.info);
	}
	p.off_script = s.off_script || s.pos != s.n;
	at_engine_free(e);
	at_store_close(st);
	return p;
}

/* A 90-day certificate issued ten days ago: the lifetime rule says renew 50 days from now. */
#define NB (-10 * DAY)
#define NA (80 * DAY)

static void lifetime_rule_without_ari(void)
{
	const struct step steps[] = { { "GET", CA "/dir", 200, "application/json", DIR_PLAIN } };
	time_t now = time(NULL);
	struct plan p = run(steps, 1, NB, NA);
	CHECK_OK(p.rc);
	CHECK_INT(p.off_script, ==, 0);
	CHECK_INT(p.from_ari, ==, 0);
	CHECK(p.renew_at >= now + 50 * DAY - 5 && p.renew_at <= now + 50 * DAY + 3600 + 5);
	CHECK_INT(p.recheck_at, ==, p.renew_at);
	/* Short-lived (6 days): half the lifetime. */
	p = run(steps, 1, -1 * DAY, 5 * DAY);
	CHECK(p.renew_at >= now + 2 * DAY - 5 && p.renew_at <= now + 2 * DAY + 3600 + 5);
}

/* Section 4.2: a random time in the window even when it has begun; a time already past means now. */
static void window_begun_picks_in_window(void)
{
	char body[256];
	time_t now = time(NULL);
	time_t s0 = now - 3600, s1 = now + 3600;
	window_body(body, sizeof(body), s0, s1);
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, "application/json", DIR_ARI },
		{ "GET", CA "/ari/MDEyMzQ1Njc4OWFiY2RlZmdoaWo.EjQ", 200, "application/json", body, NULL, "120" },
	};
	struct plan p = run(steps, 2, NB, NA);
	CHECK_OK(p.rc);
	CHECK_INT(p.off_script, ==, 0);
	CHECK_INT(p.from_ari, ==, 1);
	/* rnd 12345 in a 7201 s window: 5144 s after its start, in the future */
	CHECK(p.renew_at >= s0 + 5144 - 2 && p.renew_at <= s0 + 5144 + 2);

	/* a window almost over: the pick (5044 s after a start 7200 s ago) is past, so now */
	s0 = now - 7200;
	s1 = now + 100;
	window_body(body, sizeof(body), s0, s1);
	p = run(steps, 2, NB, NA);
	CHECK_INT(p.from_ari, ==, 1);
	CHECK(p.renew_at >= now && p.renew_at <= now + 3);
}

static void window_before_and_after_lifetime_point(void)
{
	char body[256];
	time_t now = time(NULL);
	/* 10..11 days from now: earlier than the lifetime point (50 days) */
	time_t s0 = now + 10 * DAY, s1 = now + 11 * DAY;
	window_body(body, sizeof(body), s0, s1);
	struct step steps[] = {
		{ "GET", CA "/dir", 200, "application/json", DIR_ARI },
		{ "GET", CA "/ari/MDEyMzQ1Njc4OWFiY2RlZmdoaWo.EjQ", 200, "application/json", body, NULL, "3600" },
	};
	struct plan p = run(steps, 2, NB, NA);
	CHECK_OK(p.rc);
	CHECK_INT(p.from_ari, ==, 1);
	CHECK(p.renew_at >= s0 && p.renew_at <= s1);
	CHECK(p.recheck_at >= now + 3600 - 2 && p.recheck_at <= now + 3600 + 2); /* the CA's Retry-After */

	/* 60..61 days from now: later than the lifetime point; the CA postpones, and is followed */
	s0 = now + 60 * DAY;
	s1 = now + 61 * DAY;
	window_body(body, sizeof(body), s0, s1);
	p = run(steps, 2, NB, NA);
	CHECK_INT(p.from_ari, ==, 1);
	CHECK(p.renew_at >= s0 && p.renew_at <= s1);
	CHECK(p.recheck_at <= now + 3600 + 2); /* still asked again as the CA said */

	/* 79..80 days from now, past the point where a twentieth of the 90 days is left (75.5 days from now):
	 * that point, and the lifetime rule decides */
	s0 = now + 79 * DAY;
	s1 = now + 80 * DAY;
	window_body(body, sizeof(body), s0, s1);
	p = run(steps, 2, NB, NA);
	CHECK_INT(p.from_ari, ==, 0);
	CHECK(p.renew_at >= now + 80 * DAY - 9 * DAY / 2 - 2 && p.renew_at <= now + 80 * DAY - 9 * DAY / 2 + 2);
}

static void ari_error_falls_back(void)
{
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, "application/json", DIR_ARI },
		{ "GET", CA "/ari/MDEyMzQ1Njc4OWFiY2RlZmdoaWo.EjQ", 500, "application/problem+json",
		  "{\"type\":\"urn:ietf:params:acme:error:serverInternal\"}" },
	};
	time_t now = time(NULL);
	struct plan p = run(steps, 2, NB, NA);
	CHECK_OK(p.rc);
	CHECK_INT(p.from_ari, ==, 0);
	CHECK(p.renew_at >= now + 50 * DAY - 5);
	CHECK(p.recheck_at <= now + 6 * 3600 + 2);
}

/* A record whose stored renewal time has passed but which is younger than a tenth of its lifetime is kept: no
 * order (the scripted CA has no step, so any request would be off script). */
static void young_certificate_not_renewed(void)
{
	static const char *const names[] = { "young.example.test" };
	struct script s = { .steps = NULL, .n = 0 };
	struct at_http_ops ops = { .perform = scripted_perform, .ctx = &s };
	struct at_store *st = NULL;
	struct at_engine *e = NULL;
	char *kp = NULL, *cp = NULL;
	size_t kl = 0, cl = 0;
	REQUIRE(at_store_open_file(&st, store_dir) == 0);
	struct at_engine_config ec = { .directory_url = CA "/dir", .store = st, .http = &ops };
	REQUIRE(at_engine_new(&e, &ec) == 0);
	REQUIRE(harness_self_signed_pem(&kp, &kl, &cp, &cl, "DNS:young.example.test") == 0);
	struct at_cert_record r = { .key_pem = kp, .key_len = kl, .chain_pem = cp, .chain_len = cl,
				    .names = (char **)names, .nnames = 1, .renew_after = (long long)time(NULL) - 10 };
	CHECK_OK(at_cert_record_save(st, at_engine_ca(e), &r));
	struct at_solver none = { .type = AT_CHALLENGE_HTTP_01 };
	int ordered = 1;
	CHECK_OK(at_engine_ensure(e, names, 1, &none, 1, 0, NULL, &ordered));
	CHECK_INT(ordered, ==, 0);
	CHECK_INT(s.off_script, ==, 0);
	CHECK_INT(at_renewal_floor(1000, 1000 + 90 * DAY), ==, 1000 + 9 * DAY);
	free(kp);
	free(cp);
	at_engine_free(e);
	at_store_close(st);
}

/* The CA's answer is kept in the store (engine/ari_state.c): a new engine (a restarted manager) follows it
 * without asking before the Retry-After, and a record loaded again is due at the CA's time, not the lifetime
 * rule's. */
static void answer_kept_for_a_restart(void)
{
	char body[256];
	time_t now = time(NULL);
	/* Postponed past the lifetime point (50 days from now): days 60 to 61. */
	time_t s0 = now + 60 * DAY, s1 = now + 61 * DAY;
	static const char *const names[] = { "kept.example.test" };
	window_body(body, sizeof(body), s0, s1);
	const struct step steps[] = {
		{ "GET", CA "/dir", 200, "application/json", DIR_ARI },
		{ "GET", CA "/ari/MDEyMzQ1Njc4OWFiY2RlZmdoaWo.EjQ", 200, "application/json", body, NULL, "600" },
	};
	struct plan p[2];
	struct at_cert_record rec;
	for (int i = 0; i < 2; i++) {
		/* The second engine gets no script: any request is off it. */
		struct script s = { .steps = steps, .n = i == 0 ? 2 : 0 };
		struct at_http_ops ops = { .perform = scripted_perform, .ctx = &s };
		struct at_store *st = NULL;
		struct at_engine *e = NULL;
		REQUIRE(at_store_open_file(&st, store_dir) == 0);
		struct at_engine_config ec = { .directory_url = CA "/dir", .store = st, .http = &ops };
		REQUIRE(at_engine_new(&e, &ec) == 0);
		make_cert(NB, NA, &rec);
		rec.names = (char **)names;
		rec.nnames = 1;
		p[i].rc = at_engine_renewal_plan(e, &rec, 777u + (unsigned)i, &p[i].renew_at, &p[i].recheck_at,
						 &p[i].from_ari);
		p[i].off_script = s.off_script || s.pos != s.n;
		if (i == 1) {
			at_engine_ari_apply(e, &rec);
			CHECK_INT(rec.renew_after, ==, (long long)p[0].renew_at);
			CHECK_INT(at_engine_record_current(&rec, names, 1, now + 55 * DAY), ==, 1);
		}
		free(rec.chain_pem);
		at_cert_info_clear(&rec.info);
		at_engine_free(e);
		at_store_close(st);
	}
	CHECK_OK(p[0].rc);
	CHECK_INT(p[0].off_script, ==, 0);
	CHECK_INT(p[0].from_ari, ==, 1);
	CHECK(p[0].renew_at >= s0 && p[0].renew_at <= s1);
	CHECK(p[0].recheck_at >= now + 600 && p[0].recheck_at <= now + 602);
	CHECK_OK(p[1].rc);
	CHECK_INT(p[1].off_script, ==, 0);
	CHECK_INT(p[1].renew_at, ==, p[0].renew_at);
	CHECK_INT(p[1].recheck_at, ==, p[0].recheck_at);
	CHECK_INT(p[1].from_ari, ==, 1);
}

int main(void)
{
	if (mkdtemp(store_dir) == NULL)
		return 1;
	RUN(lifetime_rule_without_ari);
	RUN(window_begun_picks_in_window);
	RUN(window_before_and_after_lifetime_point);
	RUN(ari_error_falls_back);
	RUN(young_certificate_not_renewed);
	RUN(answer_kept_for_a_restart);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", store_dir);
	return system(cmd) == 0 ? TEST_EXIT() : 1;
}
