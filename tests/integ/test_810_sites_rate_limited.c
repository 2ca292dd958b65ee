/*
 * Many sites meet the CA's rate limit (issue 10): openssl s_server under the shim with AUTOTLS_SITES of 3 lines,
 * ordering from the scripted CA (tests/harness/hostile_ca.h), which answers every newOrder with 429 rateLimited
 * and Retry-After: 12 (longer than the ACME client waits out by itself). Shown:
 *   - one warning says that new orders wait, for how many sites and until when;
 *   - no new order is placed by any worker until then (the CA, set back to issuing 3 s in, counts none before
 *     the Retry-After ends);
 *   - then every site is issued and served (verified against the CA's root, exactly its own names).
 */
#include "tests/harness/files.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/hostile_life.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/san_check.h"
#include "tests/harness/servers.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SITES 3
#define RETRY_AFTER_S 12

static char base[64];
static struct hostile_ca *hc;

static int log_count(const char *path, const char *a, const char *b)
{
	char *text = harness_read_file(path, NULL);
	int n = 0;
	for (char *line = text; line != NULL && *line;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		n += strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL);
		line = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

static int all_served(int port)
{
	int ok = 0;
	for (int i = 1; i <= SITES; i++) {
		char a[64], b[64];
		snprintf(a, sizeof(a), "r%d.limited.test", i);
		snprintf(b, sizeof(b), "www.r%d.limited.test", i);
		const char *names[] = { a, b };
		ok += san_check_exact(port, a, hostile_ca_ca_file(hc), names, 2) == 0;
	}
	return ok;
}

static void new_orders_wait_for_retry_after(void)
{
	char dir[128], store[160], logp[160], sites[160];
	struct hostile_shim_settings set;
	char e_sites[200];
	int k = 0;
	snprintf(dir, sizeof(dir), "%s/srv", base);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(logp, sizeof(logp), "%s/autotls.log", dir);
	snprintf(sites, sizeof(sites), "%s/sites", dir);
	REQUIRE(mkdir(dir, 0755) == 0);
	FILE *f = fopen(sites, "w");
	REQUIRE(f != NULL);
	for (int i = 1; i <= SITES; i++)
		fprintf(f, "r%d.limited.test www.r%d.limited.test\n", i, i);
	fclose(f);
	char *envp[20];
	REQUIRE(hostile_shim_settings(&set, envp, &k, "managed.limited.test", hostile_ca_directory_url(hc),
				      hostile_ca_ca_file(hc), store, logp) == 0);
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites);
	envp[k++] = e_sites;
	k = hostile_shim_settings_end(&set, envp, k);

	hostile_ca_set_hold_retry_after(hc, RETRY_AFTER_S);
	hostile_ca_set_mode(hc, HC_RATE_LIMITED);
	struct server srv;
	int port = harness_free_port();
	long t0 = harness_now_ms();
	REQUIRE(server_start(&srv, SERVER_S_SERVER, dir, port, envp) == 0);
	/* the warning, then the CA set back to issuing while the pause lasts */
	long warn_ms = -1;
	while (harness_now_ms() - t0 < 8000 && warn_ms < 0) {
		if (log_count(logp, "sites: the CA limits new orders", NULL) > 0)
			warn_ms = harness_now_ms() - t0;
		else
			harness_sleep_ms(100);
	}
	struct hostile_counts limited;
	hostile_ca_counts(hc, &limited);
	long switched_ms = harness_now_ms() - t0;
	hostile_ca_set_mode(hc, HC_GOOD);
	harness_sleep_ms(RETRY_AFTER_S * 1000 - 3000 - (harness_now_ms() - t0 - warn_ms));
	struct hostile_counts during;
	hostile_ca_counts(hc, &during);
	long during_ms = harness_now_ms() - t0;
	long all_ms = -1;
	while (harness_now_ms() - t0 < RETRY_AFTER_S * 1000 + 25000) {
		if (all_served(port) == SITES) {
			all_ms = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(200);
	}
	int warnings = log_count(logp, "sites: the CA limits new orders", "until");
	printf("  rateLimited seen and said %ld ms after start (%d refused newOrder(s)); after the CA issued again "
	       "(at %ld ms) %d new order(s) were placed up to %ld ms; all %d sites served at %ld ms; %d warning(s)\n",
	       warn_ms, limited.new_order, switched_ms, during.new_order, during_ms, SITES, all_ms, warnings);
	CHECK(warn_ms >= 0);
	CHECK_INT(warnings, ==, 1);
	/* the sites' workers: one refused order, then none (the leader's managed name waits the same Retry-After) */
	CHECK_INT(during.new_order, ==, 0);
	CHECK(all_ms >= RETRY_AFTER_S * 1000 - 2000);
	CHECK(all_ms >= 0);
	if (test_failed_now)
		harness_print_tail("the shim's log", logp, 6000);
	server_stop(&srv);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/autotls-t810-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0 || hostile_ca_start(&hc, base) != 0) {
		fprintf(stderr, "cannot set up the scripted CA\n");
		return 1;
	}
	RUN(new_orders_wait_for_retry_after);
	hostile_ca_stop(hc);
	harness_remove_or_keep(base);
	return TEST_EXIT();
}
