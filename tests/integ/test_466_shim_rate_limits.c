/*
 * Issue 15 (never get rate-limited) through a real server under the shim: openssl s_server with the preload,
 * its tree's manager process ordering from the scripted CA (tests/harness/hostile_ca.h), the server stopped and
 * started again as systemd's Restart=always would. What the CA counts is the measure:
 *   - an order held in "processing" (8 s standing for the 3 minutes of the issue) with the server restarted in
 *     the middle: the new manager resumes the kept order, and the CA sees one order, one finalize and one
 *     certificate, which the restarted server serves (verified against the CA's root);
 *   - a CA whose clock is an hour ahead (notBefore 59 minutes in the host's future): the certificate is kept
 *     and served, one warning about the skew, and neither the first manager nor the one of a restarted server
 *     orders again;
 *   - a name whose validation always fails, TLS-ALPN-01 and HTTP-01 both enabled, the server restarted 15 times
 *     (the issue's "every 30 s for 10 minutes", with AUTOTLS_TEST_BACKOFF_SCALE=60 for the backoff; the hour of
 *     the CA's limit is not scaled): its first life 3 s (its failed orders take 2 s), the others 1.5 s (a
 *     restarted manager says why it waits within 0.2 s of its start). At most 5 failed authorizations at the CA
 *     (the engine allows itself 4 an hour), and the restarted managers say why they wait, at info, not as an
 *     error.
 */
#include "tests/harness/files.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOLD_MS 8000
#define ISSUE_LIMIT_MS 30000

static char base[64];
static struct hostile_ca *hc;

/* One server's life under the shim: the same store, log and settings each time it is started. */
struct life {
	char dir[128], store[160], log[160];
	char e_pre[2 * PATH_MAX + 16], e_dom[128], e_ca[160], e_roots[PATH_MAX + 32], e_store[200], e_log[200];
	char e_http[48], e_chal[64];
	char *envp[16];
	struct server srv;
	int port, up;
};

static int life_prepare(struct life *l, const char *tag, const char *name, const char *challenges, int http_port)
{
	char lib[PATH_MAX], pre[2 * PATH_MAX];
	int sanitized = 0, k = 0;
	memset(l, 0, sizeof(*l));
	snprintf(l->dir, sizeof(l->dir), "%s/%s", base, tag);
	snprintf(l->store, sizeof(l->store), "%s/store", l->dir);
	snprintf(l->log, sizeof(l->log), "%s/autotls.log", l->dir);
	if (mkdir(l->dir, 0755) != 0 || harness_shim_lib_path(lib, sizeof(lib)) != 0 ||
	    harness_preload_value(pre, sizeof(pre), lib, &sanitized) != 0)
		return -1;
	snprintf(l->e_pre, sizeof(l->e_pre), "LD_PRELOAD=%s", pre);
	snprintf(l->e_dom, sizeof(l->e_dom), "AUTOTLS_DOMAINS=%s", name);
	snprintf(l->e_ca, sizeof(l->e_ca), "AUTOTLS_CA=%s", hostile_ca_directory_url(hc));
	snprintf(l->e_roots, sizeof(l->e_roots), "AUTOTLS_CA_ROOTS=%s", hostile_ca_ca_file(hc));
	snprintf(l->e_store, sizeof(l->e_store), "AUTOTLS_STORAGE=%s", l->store);
	snprintf(l->e_log, sizeof(l->e_log), "AUTOTLS_LOG=%s", l->log);
	snprintf(l->e_http, sizeof(l->e_http), "AUTOTLS_HTTP_PORT=%d", http_port);
	snprintf(l->e_chal, sizeof(l->e_chal), "AUTOTLS_CHALLENGES=%s", challenges);
	l->envp[k++] = l->e_pre;
	l->envp[k++] = l->e_dom;
	l->envp[k++] = l->e_ca;
	l->envp[k++] = l->e_roots;
	l->envp[k++] = l->e_store;
	l->envp[k++] = l->e_log;
	l->envp[k++] = l->e_http;
	l->envp[k++] = l->e_chal;
	l->envp[k++] = "AUTOTLS_LOG_LEVEL=debug";
	l->envp[k++] = "AUTOTLS_TEST_BACKOFF_SCALE=60";
	if (sanitized) {
		l->envp[k++] = HARNESS_ASAN_OPTIONS;
		l->envp[k++] = HARNESS_UBSAN_OPTIONS;
	}
	l->envp[k] = NULL;
	return 0;
}

static int life_start(struct life *l)
{
	l->port = harness_free_port();
	l->up = server_start(&l->srv, SERVER_S_SERVER, l->dir, l->port, l->envp) == 0;
	return l->up ? 0 : -1;
}

static void life_stop(struct life *l)
{
	if (l->up)
		server_stop(&l->srv);
	l->up = 0;
}

/* Waits until the server serves a certificate for name that verifies against root (NULL: any certificate
 * whose issuer is not the placeholder's). ms it took, or -1. */
static long wait_served(struct life *l, const char *name, const char *root, long limit_ms, struct tls_client_result *r)
{
	long t0 = harness_now_ms();
	tls_verify_quiet = 1;
	while (harness_now_ms() - t0 < limit_ms) {
		memset(r, 0, sizeof(*r));
		int rc = tls_client_connect(l->port, name, NULL, 0, root, NULL, r);
		if (rc == 0 && (root != NULL || strstr(r->issuer, SERVER_PLACEHOLDER_CN) == NULL)) {
			tls_verify_quiet = 0;
			return harness_now_ms() - t0;
		}
		harness_sleep_ms(100);
	}
	tls_verify_quiet = 0;
	return -1;
}

static void print_counts(const char *when, const struct hostile_counts *c)
{
	fprintf(stderr, "  %s: CA counted %d orders, %d finalizes, %d certificates, %d challenges, %d failed "
			"authorizations, %d order polls\n",
		when, c->new_order, c->finalize, c->issued, c->challenges, c->authz_failed, c->order_polls);
}

static void processing_held_across_restart(void)
{
	static const char *name = "held.hostile.test";
	struct life l;
	struct hostile_counts c;
	struct tls_client_result r;
	hostile_ca_set_mode(hc, HC_HOLD_PROCESSING);
	hostile_ca_set_hold_ms(hc, HOLD_MS);
	REQUIRE(life_prepare(&l, "held", name, "tls-alpn-01", harness_free_port()) == 0);
	REQUIRE(life_start(&l) == 0);
	/* Until the CA has the CSR and holds the order in processing; then the server goes down and comes back. */
	long t0 = harness_now_ms();
	do {
		harness_sleep_ms(50);
		hostile_ca_counts(hc, &c);
	} while (c.finalize == 0 && harness_now_ms() - t0 < ISSUE_LIMIT_MS);
	CHECK_INT(c.finalize, ==, 1);
	harness_sleep_ms(1500);
	life_stop(&l);
	long t_restart = harness_now_ms();
	CHECK_OK(life_start(&l));
	long ms = wait_served(&l, name, hostile_ca_ca_file(hc), ISSUE_LIMIT_MS, &r);
	fprintf(stderr, "  restarted %ld ms after the finalize; served %ld ms after the restart\n", t_restart - t0, ms);
	CHECK(ms >= 0);
	harness_sleep_ms(2000); /* nothing more may come */
	hostile_ca_counts(hc, &c);
	print_counts("held in processing, server restarted", &c);
	CHECK_INT(c.new_order, ==, 1);
	CHECK_INT(c.finalize, ==, 1);
	CHECK_INT(c.issued, ==, 1);
	CHECK(harness_file_count_lines(l.log, "resuming ACME order") >= 1);
	life_stop(&l);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 6000);
}

static void ca_clock_ahead(void)
{
	static const char *name = "ahead.hostile.test";
	struct life l;
	struct hostile_counts c;
	struct tls_client_result r;
	hostile_ca_set_mode(hc, HC_CLOCK_AHEAD);
	REQUIRE(life_prepare(&l, "ahead", name, "tls-alpn-01", harness_free_port()) == 0);
	REQUIRE(life_start(&l) == 0);
	/* Not verifiable here (not yet valid by this host's clock): served is what counts, issuer and all. */
	long ms = wait_served(&l, name, NULL, ISSUE_LIMIT_MS, &r);
	CHECK(ms >= 0);
	fprintf(stderr, "  served after %ld ms, issuer %s\n", ms, r.issuer);
	harness_sleep_ms(3000);
	life_stop(&l);
	CHECK_OK(life_start(&l));
	CHECK(wait_served(&l, name, NULL, ISSUE_LIMIT_MS, &r) >= 0);
	harness_sleep_ms(3000);
	hostile_ca_counts(hc, &c);
	print_counts("CA clock an hour ahead, server restarted", &c);
	CHECK_INT(c.new_order, ==, 1);
	CHECK_INT(c.issued, ==, 1);
	CHECK_INT(harness_file_count_lines(l.log, "ahead of this host's clock"), ==, 1);
	life_stop(&l);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 6000);
}

static void failing_validation_restarted(void)
{
	/* The scripted CA's failing authorization names this identifier. */
	static const char *name = "fails.hostile.test";
	struct life l;
	struct hostile_counts c;
	int lives = 15, started = 0;
	hostile_ca_set_mode(hc, HC_AUTHZ_FAILS);
	REQUIRE(life_prepare(&l, "fails", name, "tls-alpn-01,http-01", harness_free_port()) == 0);
	long t0 = harness_now_ms();
	for (int i = 0; i < lives; i++) {
		if (life_start(&l) == 0)
			started++;
		harness_sleep_ms(i == 0 ? 3000 : 1500);
		life_stop(&l);
	}
	hostile_ca_counts(hc, &c);
	print_counts("validation always failing", &c);
	int waits = harness_file_count_lines(l.log, "no new order for fails.hostile.test yet");
	int refused = harness_file_count_lines(l.log, "not ordering for fails.hostile.test");
	int errors = harness_file_count_lines(l.log, "error: obtaining a certificate");
	fprintf(stderr, "  %d server lives over %ld s; the log: %d failed rounds (error), %d waits for the next try "
			"(info), %d refusals by the engine's guard\n",
		started, (harness_now_ms() - t0) / 1000, errors, waits, refused);
	CHECK_INT(started, ==, lives);
	CHECK_INT(c.authz_failed, >=, 2); /* it did try, both types */
	CHECK_INT(c.authz_failed, <=, 5); /* Let's Encrypt's limit: 5 per identifier per account per hour */
	CHECK_INT(c.new_order, <=, 5);
	CHECK_INT(waits, >=, lives / 2);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 8000);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/autotls-t466-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0 || hostile_ca_start(&hc, base) != 0) {
		fprintf(stderr, "cannot set up the scripted CA\n");
		return 1;
	}
	RUN(processing_held_across_restart);
	RUN(ca_clock_ahead);
	RUN(failing_validation_restarted);
	hostile_ca_stop(hc);
	harness_remove_or_keep(base);
	return TEST_EXIT();
}
