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
#include "tests/harness/files.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/netns.h"
#include "tests/harness/ocsp_scene.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"
#include "tests/test.h"

#include <limits.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "ocsp.hostile.test"          /* AUTOTLS_DOMAINS */
#define OD_NAME "od.ocsp.hostile.test"    /* on demand */
#define SITE "site.ocsp.hostile.test"     /* the sites line's key */
#define SITE_2 "www.site.ocsp.hostile.test" /* and its second name */
#define LIMIT_MS 20000

static char base[64], store[128], events[128];
static struct hostile_ca *hc;
static struct harness_ocsp oc;
static int tls_port;
static pid_t server = -1;

static int count_in(const char *path, const char *needle)
{
	char *t = harness_read_file(path, NULL);
	int n = 0;
	for (char *p = t; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(t);
	return n;
}

/* Waits until sni is served by the scripted CA with a good staple (a serial other than not, when given). ms it
 * took, or -1; *s filled on success. */
static long wait_stapled(const char *sni, const char *not, long limit_ms, struct harness_ocsp_seen *s)
{
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < limit_ms) {
		harness_ocsp_follow(&oc);
		if (harness_ocsp_handshake(tls_port, sni, hostile_ca_ca_file(hc), s) == 0) {
			if ((not == NULL || strcmp(s->serial, not) != 0) &&
			    harness_ocsp_status(s, hostile_ca_ca_file(hc)) == V_OCSP_CERTSTATUS_GOOD)
				return harness_now_ms() - t0;
			harness_ocsp_seen_clear(s);
		}
		harness_sleep_ms(150);
	}
	return -1;
}

static int stored_ocsp(const char *name)
{
	char cmd[512], line[512] = "", want[300];
	snprintf(cmd, sizeof(cmd), "find %s/certificates -name ocsp -type f", store);
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
	CHECK_INT(count_in(events, "event=revoked|names=" OD_NAME "|"), ==, 1);
	CHECK_INT(count_in(events, "event=revoked|names=" SITE), ==, 0);

	/* The sites certificate untouched: the same serial, still stapled good (its refreshes went on). */
	REQUIRE(harness_ocsp_handshake(tls_port, SITE, hostile_ca_ca_file(hc), &after) == 0);
	CHECK_STR(after.serial, site1);
	CHECK_INT(harness_ocsp_status(&after, hostile_ca_ca_file(hc)), ==, V_OCSP_CERTSTATUS_GOOD);
	fprintf(stderr, "  sites certificate untouched: serial %s, staple %s\n", after.serial,
		harness_ocsp_status(&after, hostile_ca_ca_file(hc)) == V_OCSP_CERTSTATUS_GOOD ? "good" : "not good");
	harness_ocsp_seen_clear(&after);
}

static const char hook_body[] = "#!/bin/sh\n"
				"echo \"event=$AUTOTLS_EVENT|names=$AUTOTLS_NAMES|error=$AUTOTLS_ERROR|\" >> \"$(dirname \"$0\")/events\"\n";

static int setup(void)
{
	char lib[PATH_MAX], pre[2 * PATH_MAX], hook[160], sites[160], accept[32], out[160];
	static char e_pre[2 * PATH_MAX + 16], e_ca[160], e_roots[PATH_MAX + 32], e_store[200], e_log[200], e_http[48],
		e_hook[200], e_sites[200];
	static char *env[24];
	snprintf(store, sizeof(store), "%s/store", base);
	snprintf(events, sizeof(events), "%s/events", base);
	snprintf(hook, sizeof(hook), "%s/hook.sh", base);
	snprintf(sites, sizeof(sites), "%s/sites.txt", base);
	if (harness_ocsp_start(&oc, hc, base) != 0)
		return -1;
	FILE *f = fopen(hook, "w");
	if (f == NULL || fputs(hook_body, f) < 0 || fclose(f) != 0 || chmod(hook, 0755) != 0)
		return -1;
	f = fopen(sites, "w");
	if (f == NULL || fputs(SITE " " SITE_2 "\n", f) < 0 || fclose(f) != 0)
		return -1;

	int sanitized = 0, k = 0;
	if (harness_shim_lib_path(lib, sizeof(lib)) != 0 || harness_preload_value(pre, sizeof(pre), lib, &sanitized) != 0)
		return -1;
	snprintf(e_pre, sizeof(e_pre), "LD_PRELOAD=%s", pre);
	snprintf(e_ca, sizeof(e_ca), "AUTOTLS_CA=%s", hostile_ca_directory_url(hc));
	snprintf(e_roots, sizeof(e_roots), "AUTOTLS_CA_ROOTS=%s", hostile_ca_ca_file(hc));
	snprintf(e_store, sizeof(e_store), "AUTOTLS_STORAGE=%s", store);
	snprintf(e_log, sizeof(e_log), "AUTOTLS_LOG=%s/autotls.log", base);
	snprintf(e_http, sizeof(e_http), "AUTOTLS_HTTP_PORT=%d", harness_free_port());
	snprintf(e_hook, sizeof(e_hook), "AUTOTLS_HOOK=%s", hook);
	snprintf(e_sites, sizeof(e_sites), "AUTOTLS_SITES=%s", sites);
	env[k++] = e_pre;
	env[k++] = "AUTOTLS_DOMAINS=" NAME;
	env[k++] = "AUTOTLS_ON_DEMAND=1";
	env[k++] = "AUTOTLS_ALLOW=" OD_NAME;
	env[k++] = e_sites;
	env[k++] = e_ca;
	env[k++] = e_roots;
	env[k++] = e_store;
	env[k++] = e_log;
	env[k++] = e_http;
	env[k++] = e_hook;
	env[k++] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	env[k++] = "AUTOTLS_LOG_LEVEL=debug";
	env[k++] = "AUTOTLS_TEST_BACKOFF_SCALE=60";
	env[k++] = "AUTOTLS_MUST_STAPLE=on";
	if (sanitized) {
		env[k++] = HARNESS_ASAN_OPTIONS;
		env[k++] = HARNESS_UBSAN_OPTIONS;
	}
	env[k] = NULL;

	tls_port = harness_free_port();
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", tls_port);
	snprintf(out, sizeof(out), "%s/s_server.out", base);
	/* s_server's own certificate: the one it was given, here the scripted CA's own (any will do: the shim
	 * serves the managed names; this one only makes s_server start). */
	char ca_file[PATH_MAX];
	snprintf(ca_file, sizeof(ca_file), "%s", hostile_ca_ca_file(hc));
	char *argv[] = { "openssl", "s_server", "-accept", accept, "-cert", ca_file, "-key", oc.ca_key, "-www", NULL };
	struct harness_spawn_opts o = { .argv = argv, .extra_env = env, .out_path = out, .own_group = 1, .die_with_us = 1 };
	if (harness_spawn(&o, &server) != 0)
		return -1;
	for (int i = 0; i < 300 && !harness_tcp_connects(tls_port); i++)
		harness_sleep_ms(50);
	return harness_tcp_connects(tls_port) ? 0 : -1;
}

int main(void)
{
	if (harness_netns_private() != 0)
		return 1;
	long t0 = harness_now_ms();
	snprintf(base, sizeof(base), "/tmp/autotls-t631-XXXXXX");
	harness_ignore_sigpipe();
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0 || hostile_ca_start(&hc, base) != 0) {
		fprintf(stderr, "cannot set up the scripted CA\n");
		return 1;
	}
	int ok = setup() == 0;
	if (!ok)
		fprintf(stderr, "cannot set up the OCSP responder or the server\n");
	else
		RUN(on_demand_and_sites_stapled);
	if (!ok || test_failed_total) {
		char log[128];
		snprintf(log, sizeof(log), "%s/autotls.log", base);
		harness_print_tail("autotls.log", log, 8000);
		harness_print_tail("ocsp.log", oc.log, 2000);
	}
	harness_stop_child(server, SIGTERM, 5000, 1);
	harness_ocsp_stop(&oc);
	hostile_ca_stop(hc);
	harness_remove_or_keep(base);
	fprintf(stderr, "  test_631 took %ld ms\n", harness_now_ms() - t0);
	return ok ? TEST_EXIT() : 1;
}
