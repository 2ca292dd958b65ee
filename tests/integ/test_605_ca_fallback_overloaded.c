/*
 * Issue 14, acceptance 2 with the answers Pebble cannot give: AUTOTLS_CA=<first>,<second>, two scripted CAs
 * (tests/harness/hostile_acme.h), openssl s_server under the shim, 20-second certificates, AUTOTLS_CA_ROOTS
 * trusting both.
 *   - the first answering every new order 503 (serverInternal, Retry-After: 1): the certificate comes from the
 *     second (verified against its root); the log names both, the first passed over and why;
 *   - the first answering again: the next renewal (due after ~10 s) comes from the first;
 *   - the same with the first answering every new order 429 rateLimited (Retry-After: 1, which the client waits
 *     out once before it passes the CA over).
 */
#include "tests/harness/files.h"
#include "tests/harness/hostile_acme.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/hostile_life.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VALIDITY_S 20
#define ISSUE_LIMIT_MS 20000

static char base[64], roots[128], list[300];
static struct hostile_ca *ca1, *ca2;

static int both_roots(void)
{
	size_t l1 = 0, l2 = 0;
	char *a = harness_read_file(hostile_ca_ca_file(ca1), &l1), *b = harness_read_file(hostile_ca_ca_file(ca2), &l2);
	FILE *f = a && b ? fopen(roots, "we") : NULL;
	int rc = f && fwrite(a, 1, l1, f) == l1 && fwrite(b, 1, l2, f) == l2 ? 0 : -1;
	if (f && fclose(f) != 0)
		rc = -1;
	free(a);
	free(b);
	return rc;
}

static void first_refuses_orders(enum hostile_order_fault fault, const char *tag, const char *what)
{
	char name[64];
	struct hostile_life l;
	struct hostile_acme_state s1, s2, b1, b2;
	struct tls_client_result r;
	snprintf(name, sizeof(name), "%s.fallback.test", tag);
	hostile_acme_state(ca1, &b1);
	hostile_acme_state(ca2, &b2);
	hostile_acme_set_order_fault(ca1, fault, 1);
	REQUIRE(hostile_life_prepare(&l, base, tag, name, list, roots, NULL, NULL) == 0);
	REQUIRE(hostile_life_start(&l) == 0);
	long ms = hostile_life_wait(&l, name, hostile_ca_ca_file(ca2), NULL, ISSUE_LIMIT_MS, &r);
	CHECK(ms >= 0);
	hostile_acme_state(ca1, &s1);
	hostile_acme_state(ca2, &s2);
	fprintf(stderr, "  the first CA answering every new order %s: served from the second %ld ms after the start "
			"(orders: %d at the first, %d at the second)\n", what, ms, s1.norders - b1.norders,
		s2.norders - b2.norders);
	CHECK_INT(s1.norders - b1.norders, >=, 1);
	for (int i = b1.norders; i < s1.norders; i++)
		CHECK_INT(s1.orders[i].answered, ==, fault == HOF_503 ? 503 : 429);
	CHECK_INT(s2.norders - b2.norders, ==, 1);
	CHECK_INT(harness_file_count_lines(l.log, "could not issue"), >=, 1);
	CHECK_INT(harness_file_count_lines(l.log, hostile_ca_directory_url(ca1)), >=, 2);
	CHECK_INT(harness_file_count_lines(l.log, "was issued by"), ==, 1);
	CHECK_INT(harness_file_count_lines(l.log, hostile_ca_directory_url(ca2)), >=, 1);
	CHECK_INT(harness_file_count_lines(l.log, "was passed over"), ==, 1);
	CHECK_INT(harness_file_count_lines(l.log, fault == HOF_503 ? "serverInternal" : "rateLimited"), >=, 2);
	if (ms < 0) {
		hostile_life_stop(&l);
		harness_print_tail("the shim's log", l.log, 8000);
		hostile_acme_set_order_fault(ca1, HOF_NONE, 0);
		return;
	}

	/* The first answers again: the renewal starts from it. */
	hostile_acme_set_order_fault(ca1, HOF_NONE, 0);
	long t0 = harness_now_ms();
	ms = hostile_life_wait(&l, name, hostile_ca_ca_file(ca1), NULL, 2 * VALIDITY_S * 1000, &r);
	CHECK(ms >= 0);
	hostile_acme_state(ca1, &s1);
	hostile_acme_state(ca2, &s2);
	fprintf(stderr, "  the first CA answering again: the renewal came from it %ld ms later\n", harness_now_ms() - t0);
	CHECK_INT(s2.norders - b2.norders, ==, 1);
	CHECK_INT(s1.orders[s1.norders - 1].answered, ==, 201);
	CHECK_INT(harness_file_count_lines(l.log, "was issued by"), ==, 2);
	CHECK_INT(harness_file_count_lines(l.log, "] error:"), ==, 0);
	hostile_life_stop(&l);
	if (test_failed_now)
		harness_print_tail("the shim's log", l.log, 8000);
}

static void first_overloaded(void)
{
	first_refuses_orders(HOF_503, "overloaded", "503");
}

static void first_rate_limited(void)
{
	first_refuses_orders(HOF_RATE_LIMITED, "limited", "429 rateLimited");
}

int main(void)
{
	char d1[96], d2[96];
	snprintf(base, sizeof(base), "/tmp/autotls-t605-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0)
		return 1;
	snprintf(d1, sizeof(d1), "%s/ca1", base);
	snprintf(d2, sizeof(d2), "%s/ca2", base);
	snprintf(roots, sizeof(roots), "%s/roots.pem", base);
	if (mkdir(d1, 0755) != 0 || mkdir(d2, 0755) != 0 || hostile_ca_start(&ca1, d1) != 0 ||
	    hostile_ca_start(&ca2, d2) != 0 || both_roots() != 0) {
		fprintf(stderr, "cannot set up the scripted CAs\n");
		return 1;
	}
	snprintf(list, sizeof(list), "%s,%s", hostile_ca_directory_url(ca1), hostile_ca_directory_url(ca2));
	hostile_acme_set_validity(ca1, VALIDITY_S);
	hostile_acme_set_validity(ca2, VALIDITY_S);
	RUN(first_overloaded);
	RUN(first_rate_limited);
	hostile_ca_stop(ca1);
	hostile_ca_stop(ca2);
	harness_remove_or_keep(base);
	return TEST_EXIT();
}
