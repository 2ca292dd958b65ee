/*
 * Issue 14: OCSP stapling for every managed certificate, not only AUTOTLS_DOMAINS' (shim/manager/staple_many.c).
 * The scene of test_630 (tests/harness/ocsp_scene.h: the scripted CA's leaves name a real `openssl ocsp -index`
 * responder, -nmin 1, AUTOTLS_TEST_BACKOFF_SCALE=60 so a response is refreshed every 5 s), with openssl s_server
 * under the shim serving, beside AUTOTLS_DOMAINS' certificate, an on-demand name (AUTOTLS_ON_DEMAND,
 * AUTOTLS_ALLOW) and a sites line of two names (AUTOTLS_SITES). A client asking for status:
 *   - gets, for the on-demand name and for both names of the sites line, a stapled response that verifies
 *     against the scripted CA only, says good, and is for the very certificate served; each is kept in the store
 *     beside its certificate record (certificates/<ca>/<name>/ocsp);
 * then the on-demand certificate's serial is marked revoked in the responder's index: a new on-demand
 * certificate is served and stapled good, the hook saw `revoked` for that name only, and the sites certificate
 * is untouched (same serial, still stapled good, no `revoked`). With AUTOTLS_MUST_STAPLE=on, the CSRs ask for
 * must-staple, and the certificates served carry the TLS Feature extension (the scripted CA honours it as CAs
 * do): stapled all the same.
 * In a network namespace of the test's own (tests/harness/netns.h), as test_630.
 */
#include "tests/harness/hostile_ca.h"
#include "tests/harness/ocsp_scene.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <limits.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#define NAME "ocsp.hostile.test"          /* AUTOTLS_DOMAINS */
#define OD_NAME "od.ocsp.hostile.test"    /* on demand */
#define SITE "site.ocsp.hostile.test"     /* the sites line's key */
#define SITE_2 "www.site.ocsp.hostile.test" /* and its second name */
#define LIMIT_MS 20000

static char base[64];
static struct hostile_ca *hc;
static struct harness_ocsp oc;
static struct harness_ocsp_shim sh;
static int tls_port;
static pid_t server = -1;

/* Waits until sni is served by the scripted CA with a good staple (a serial other than not, when given). ms it
 * took, or -1; *s filled on success. */
static long wait_stapled(const char *sni, const char *not, long limit_ms, struct harness_ocsp_seen *s)
{
	return harness_ocsp_wait_stapled(&oc, tls_port, sni, not, limit_ms, 150, s);
}

static int stored_ocsp(const char *name)
{
	char cmd[512], line[512] = "", want[300];
	snprintf(cmd, sizeof(cmd), "find %s/certificates -name ocsp -type f", sh.store);
	snprintf(want, sizeof(want), "/%s/ocsp", name);
	FILE *p = popen(cmd, "r");
	int found = 0;
	while (p != NULL && fgets(line, sizeof(line), p) != NULL)
		found |= strstr(line, want) != NULL;
	if (p != NULL)
		pclose(p);
	return found;
}

static void on_demand_and_sites_stapled(void)
{
	struct harness_ocsp_seen od, site, site2, after;
	char od1[80], site1[80];

	long ms = wait_stapled(SITE, NULL, LIMIT_MS, &site);
	fprintf(stderr, "  sites line served with a good staple after %ld ms (serial %s)\n", ms, site.serial);
	REQUIRE(ms >= 0);
	snprintf(site1, sizeof(site1), "%s", site.serial);
	CHECK(X509_get_ext_by_NID(site.leaf, NID_tlsfeature, -1) >= 0); /* AUTOTLS_MUST_STAPLE=on */
	harness_ocsp_seen_clear(&site);
	/* The line's second name: the same certificate, the same staple. */
	ms = wait_stapled(SITE_2, NULL, 5000, &site2);
	CHECK(ms >= 0);
	CHECK(ms < 0 || strcmp(site2.serial, site1) == 0);
	harness_ocsp_seen_clear(&site2);

	/* On demand: the first handshake asks for it; served and stapled shortly after. */
	long t0 = harness_now_ms();
	ms = wait_stapled(OD_NAME, NULL, LIMIT_MS, &od);
	fprintf(stderr, "  on-demand name served with a good staple %ld ms after its first handshake (serial %s)\n",
		ms < 0 ? -1 : harness_now_ms() - t0, od.serial);
	REQUIRE(ms >= 0);
	snprintf(od1, sizeof(od1), "%s", od.serial);
	CHECK(X509_get_ext_by_NID(od.leaf, NID_tlsfeature, -1) >= 0);
	harness_ocsp_seen_clear(&od);
	CHECK(stored_ocsp(SITE));
	CHECK(stored_ocsp(OD_NAME));

	/* The on-demand certificate revoked at the responder: a new one, stapled good. */
	REQUIRE(harness_ocsp_revoke(&oc, od1) == 0);
	t0 = harness_now_ms();
	ms = wait_stapled(OD_NAME, od1, LIMIT_MS, &od);
	fprintf(stderr, "  on-demand certificate revoked: a new one (serial %s) served with a good staple after %ld ms\n",
		od.serial, ms);
	CHECK(ms >= 0);
	harness_ocsp_seen_clear(&od);
	CHECK_INT(harness_ocsp_events(&sh, "event=revoked|names=" OD_NAME "|"), ==, 1);
	CHECK_INT(harness_ocsp_events(&sh, "event=revoked|names=" SITE), ==, 0);

	/* The sites certificate untouched: the same serial, still stapled good (its refreshes went on). */
	REQUIRE(harness_ocsp_handshake(tls_port, SITE, hostile_ca_ca_file(hc), &after) == 0);
	CHECK_STR(after.serial, site1);
	CHECK_INT(harness_ocsp_status(&after, hostile_ca_ca_file(hc)), ==, V_OCSP_CERTSTATUS_GOOD);
	fprintf(stderr, "  sites certificate untouched: serial %s, staple %s\n", after.serial,
		harness_ocsp_status(&after, hostile_ca_ca_file(hc)) == V_OCSP_CERTSTATUS_GOOD ? "good" : "not good");
	harness_ocsp_seen_clear(&after);
}

static int setup(void)
{
	char sites[160];
	static char e_sites[200];
	snprintf(sites, sizeof(sites), "%s/sites.txt", base);
	if (harness_ocsp_start(&oc, hc, base) != 0)
		return -1;
	FILE *f = fopen(sites, "w");
	if (f == NULL || fputs(SITE " " SITE_2 "\n", f) < 0 || fclose(f) != 0)
		return -1;
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites);
	const char *extra[] = { "AUTOTLS_ON_DEMAND=1", "AUTOTLS_ALLOW=" OD_NAME, e_sites, "AUTOTLS_MUST_STAPLE=on", NULL };
	if (harness_ocsp_shim_env(&sh, &oc, base, NAME, extra) != 0)
		return -1;
	/* s_server's own certificate: the one it was given, here the scripted CA's own (any will do: the shim
	 * serves the managed names; this one only makes s_server start). */
	return harness_ocsp_server_start(sh.env, base, hostile_ca_ca_file(hc), oc.ca_key, NULL, &tls_port, &server);
}

int main(void)
{
	long t0 = harness_now_ms();
	if (harness_ocsp_scene_open(base, sizeof(base), "t631", &hc) != 0)
		return 1;
	int ok = setup() == 0;
	if (ok)
		RUN(on_demand_and_sites_stapled);
	int rc = harness_ocsp_scene_close(base, hc, &oc, server, ok, 8000);
	fprintf(stderr, "  test_631 took %ld ms\n", harness_now_ms() - t0);
	return rc;
}
