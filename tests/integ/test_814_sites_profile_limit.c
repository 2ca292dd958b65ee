/*
 * Names per certificate above what the CA allows (issue 10, acceptance 4), end to end: openssl s_server under the
 * shim with AUTOTLS_PROFILE=tlsserver, ordering from the scripted CA (tests/harness/hostile_acme.h), which lists
 * classic, tlsserver and shortlived in meta.profiles (Debian's Pebble offers no profiles). The sites file has a
 * line of 30 names (tlsserver allows 25), a line of 101 names (more than any profile allows), a line of exactly
 * 25 names, and a few two-name lines. Shown:
 *   - each of the two long lines is one error naming the file, its line and the limit, and nothing else errs;
 *   - the CA sees no order for them: one order per other line (and the managed name), none carrying any of
 *     their names, every one with the profile;
 *   - every other line is issued and served, verified against the scripted CA's root with exactly its names
 *     (the 25-name line too: the limit is 25, not fewer).
 */
#include "tests/harness/files.h"
#include "tests/harness/hostile_acme.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/hostile_life.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/san_check.h"
#include "tests/harness/servers.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAIRS 3        /* p1..p3.limit.test, two names each */
#define AT_LIMIT 25    /* q0..q24.quarter.test: exactly what tlsserver allows */
#define THIRTY 30      /* t0..t29.thirty.test: line 4 */
#define HUNDRED_ONE 101 /* h0..h100.hundred.test: line 6 */
#define ISSUE_LIMIT_MS 15000

static char base[64];
static struct hostile_ca *hc;

/* The sites file: line numbers are part of what the test checks (4 and 6). */
static int write_sites(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "# test_814: tlsserver allows 25 names a certificate\n"); /* 1 */
	fprintf(f, "p1.limit.test www.p1.limit.test\n");                      /* 2 */
	fprintf(f, "p2.limit.test www.p2.limit.test\n");                      /* 3 */
	for (int i = 0; i < THIRTY; i++)                                      /* 4 */
		fprintf(f, "%st%d.thirty.test", i ? " " : "", i);
	fprintf(f, "\np3.limit.test www.p3.limit.test\n");                    /* 5 */
	for (int i = 0; i < HUNDRED_ONE; i++)                                    /* 6 */
		fprintf(f, "%sh%d.hundred.test", i ? " " : "", i);
	fprintf(f, "\n");
	for (int i = 0; i < AT_LIMIT; i++)                                    /* 7 */
		fprintf(f, "%sq%d.quarter.test", i ? " " : "", i);
	fprintf(f, "\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* How many of the lines that should be issued verify with exactly their names. */
static int served(int port)
{
	int ok = 0;
	for (int i = 1; i <= PAIRS; i++) {
		char a[64], b[64];
		snprintf(a, sizeof(a), "p%d.limit.test", i);
		snprintf(b, sizeof(b), "www.p%d.limit.test", i);
		const char *names[] = { a, b };
		ok += san_check_exact(port, a, hostile_ca_ca_file(hc), names, 2) == 0;
	}
	static char q[AT_LIMIT][32];
	const char *qn[AT_LIMIT];
	for (int i = 0; i < AT_LIMIT; i++) {
		snprintf(q[i], sizeof(q[i]), "q%d.quarter.test", i);
		qn[i] = q[i];
	}
	ok += san_check_exact(port, q[AT_LIMIT - 1], hostile_ca_ca_file(hc), qn, AT_LIMIT) == 0;
	return ok;
}

static void long_lines_refused_others_issued(void)
{
	char dir[128], store[160], logp[160], sites[160], need[320];
	struct hostile_shim_settings set;
	char e_sites[200];
	int k = 0;
	snprintf(dir, sizeof(dir), "%s/srv", base);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(logp, sizeof(logp), "%s/autotls.log", dir);
	snprintf(sites, sizeof(sites), "%s/sites", dir);
	REQUIRE(mkdir(dir, 0755) == 0);
	REQUIRE(write_sites(sites) == 0);
	char *envp[20];
	REQUIRE(hostile_shim_settings(&set, envp, &k, "managed.limit.test", hostile_ca_directory_url(hc),
				      hostile_ca_ca_file(hc), store, logp) == 0);
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites);
	envp[k++] = e_sites;
	envp[k++] = "AUTOTLS_PROFILE=tlsserver";
	k = hostile_shim_settings_end(&set, envp, k);

	hostile_ca_set_mode(hc, HC_GOOD);
	struct server srv;
	int port = harness_free_port();
	long t0 = harness_now_ms(), all_ms = -1;
	REQUIRE(server_start(&srv, SERVER_S_SERVER, dir, port, envp) == 0);
	tls_verify_quiet = 1;
	while (harness_now_ms() - t0 < ISSUE_LIMIT_MS) {
		if (served(port) == PAIRS + 1) {
			all_ms = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(200);
	}
	tls_verify_quiet = 0;
	harness_sleep_ms(500); /* an order for a refused line, were one placed late, would be seen */

	/* One error each, naming the file, the line and the limit; no other error. */
	snprintf(need, sizeof(need), "%s:4: more than 25 names; the CA allows at most 25 in one certificate under this "
		 "AUTOTLS_PROFILE", sites);
	int e30 = harness_file_count_lines(logp, need);
	snprintf(need, sizeof(need), "%s:6: more than 25 names; the CA allows at most 25", sites);
	int e101 = harness_file_count_lines(logp, need);
	snprintf(need, sizeof(need), "%s:4:", sites);
	int l4 = harness_file_count_lines(logp, need);
	snprintf(need, sizeof(need), "%s:6:", sites);
	int l6 = harness_file_count_lines(logp, need);
	int errors = harness_file_count_lines(logp, "] error:");

	/* The CA's record: one order a line issued, none with a refused line's name. */
	struct hostile_acme_state st;
	hostile_acme_state(hc, &st);
	int theirs = 0, profiled = 0, created = 0, maxn = 0;
	for (int i = 0; i < st.norders; i++) {
		theirs += strstr(st.orders[i].names, ".thirty.test") != NULL ||
			  strstr(st.orders[i].names, ".hundred.test") != NULL;
		profiled += strcmp(st.orders[i].profile, "tlsserver") == 0;
		created += st.orders[i].answered == 201;
		maxn = st.orders[i].nnames > maxn ? st.orders[i].nnames : maxn;
	}
	printf("  %d lines issued and verified (exactly their names) %ld ms after start; the 30-name line: %d error "
	       "line(s), the 101-name line: %d; %d error line(s) in all; the CA saw %d order(s) (%d with tlsserver, "
	       "the largest %d names), %d carrying a refused line's name\n", all_ms >= 0 ? PAIRS + 1 : served(port),
	       all_ms, e30, e101, errors, st.norders, profiled, maxn, theirs);
	CHECK(all_ms >= 0);
	CHECK_INT(e30, ==, 1);
	CHECK_INT(e101, ==, 1);
	CHECK_INT(l4, ==, 1);
	CHECK_INT(l6, ==, 1);
	CHECK_INT(errors, ==, 2);
	CHECK_INT(st.norders, ==, 1 + PAIRS + 1);
	CHECK_INT(theirs, ==, 0);
	CHECK_INT(profiled, ==, st.norders);
	CHECK_INT(created, ==, st.norders);
	CHECK_INT(maxn, ==, AT_LIMIT);
	/* and a refused line's names are not served by a certificate of the CA */
	tls_verify_quiet = 1;
	const char *t0n[] = { "t0.thirty.test" }, *h0n[] = { "h0.hundred.test" };
	CHECK(san_check_exact(port, "t0.thirty.test", hostile_ca_ca_file(hc), t0n, 1) != 0);
	CHECK(san_check_exact(port, "h0.hundred.test", hostile_ca_ca_file(hc), h0n, 1) != 0);
	tls_verify_quiet = 0;
	if (test_failed_now)
		harness_print_tail("the shim's log", logp, 6000);
	server_stop(&srv);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/autotls-t814-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0 || hostile_ca_start(&hc, base) != 0) {
		fprintf(stderr, "cannot set up the scripted CA\n");
		return 1;
	}
	hostile_acme_set_profiles(hc, "classic,tlsserver,shortlived");
	RUN(long_lines_refused_others_issued);
	hostile_ca_stop(hc);
	harness_remove_or_keep(base);
	return TEST_EXIT();
}
