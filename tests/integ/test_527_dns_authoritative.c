/*
 * DNS-01 through a hook with the TXT record checked at the zone's authoritative servers
 * (challenge/dns01_wait.c, dns/auth.c), against real servers: three Debian knotd instances and Pebble.
 *
 * Where: a network namespace of the test's own (unshare(CLONE_NEWNET), loopback brought up), so the servers can
 * listen on port 53, which authoritative servers are always asked on, at fixed loopback addresses without
 * colliding with anything on the host or with another run of this test, and so nothing but loopback can be
 * reached at all. Pebble and pebble-challtestsrv run in it too (they are the test's children).
 *
 *   127.0.53.53  knotd "R", the resolver (the resolv.conf the configuration names): zones example.test and
 *                nsprov.test, never given the TXT record, as a resolver that cached its absence.
 *   127.0.53.1   knotd "A" = ns1.example.test (its address comes as glue with the NS answer): gets the record
 *                at once.
 *   127.0.53.2   knotd "B" = ns2.nsprov.test, also on ::1 (in another zone, so no glue: found by A and AAAA
 *   and ::1      queries): gets the record after a delay, or never.
 *   127.0.53.3   ns3.example.test: nothing listens (an unreachable server, left out).
 *   127.0.53.4   knotd "L" = ns4.example.test, a lame delegation: it serves nsprov.test only and answers REFUSED
 *                for example.test (left out, as the CA's resolver passes over it too).
 *
 * The hook sets the record in pebble-challtestsrv too, which Pebble validates against, and in A with knotc at
 * once and in B later (AUTOTLS_TEST_LAG_B seconds, or "never"). The solver is wrapped so the test can ask every
 * server, at the moment present() returns (just before the CA is told), whether it shows the value.
 *
 * Scenarios: the servers as found; B lagging 3 s: present() waits for it and a certificate is issued and
 * verifies; B never: the wait ends after the configured wait with an error naming B, the hook deletes, nothing
 * is issued; the resolver (AUTOTLS_DNS_RESOLVER) set to A: checked there only, so it succeeds although B never
 * has the record.
 *
 * The test's thread holds a lock the solver's wait hooks release while it waits, as the manager thread holds
 * its quiesce lock (tests/harness/solver_lock.h).
 */
#include "challenge/dns01_hook.h"
#include "acme/solver.h"
#include "tests/harness/knot.h"
#include "tests/harness/netns.h"
#include "tests/harness/records.h"
#include "tests/harness/proc.h"
#include "tests/harness/issue_env.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/solver_lock.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/log.h"
#include "dns/auth.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IP_R "127.0.53.53"
#define IP_A "127.0.53.1"
#define IP_B "127.0.53.2"
#define IP_L "127.0.53.4"

static struct issue_env env;
static struct at_dns01_hook_config cfg;
static struct knot knot_r, knot_a, knot_b, knot_l;
static char hook_path[PATH_MAX + 32], calls_path[PATH_MAX + 32], log_path[PATH_MAX + 32];
static char resolv_path[PATH_MAX + 32], b_done_path[PATH_MAX + 32];
static const char *resolver; /* NULL: the authoritative servers */
static long wait_s = 30;
static int started;

/* What the wrapped present() saw. */
static struct at_solver real;
static long present_ms, present_end;
static int all_show, resolver_shows;

static const char hook_script[] =
	"#!/bin/bash\n"
	"set -u\n"
	"echo \"$@\" >> \"$AUTOTLS_TEST_HOOK_CALLS\"\n"
	"kc() { /usr/sbin/knotc -s \"$1/knot.sock\" \"${@:2}\" > /dev/null; }\n"
	"edit() { kc \"$1\" zone-begin example.test || return 1\n"
	"  if kc \"$1\" \"$2\" example.test \"$3.\" \"${@:4}\"; then kc \"$1\" zone-commit example.test\n"
	"  else kc \"$1\" zone-abort example.test; return 1; fi; }\n"
	"case \"$1\" in\n"
	"add)\n"
	"  curl -fsS -o /dev/null -X POST -d \"{\\\"host\\\":\\\"$2.\\\",\\\"value\\\":\\\"$3\\\"}\" "
	"\"$AUTOTLS_TEST_CHALL_URL/set-txt\" || exit 1\n"
	"  edit \"$AUTOTLS_TEST_KNOT_A\" zone-set \"$2\" 60 TXT \"$3\" || { echo \"knotc at A failed\" >&2; exit 1; }\n"
	"  if [ \"$AUTOTLS_TEST_LAG_B\" != never ]; then\n"
	"    ( sleep \"$AUTOTLS_TEST_LAG_B\"; edit \"$AUTOTLS_TEST_KNOT_B\" zone-set \"$2\" 60 TXT \"$3\" &&\n"
	"      date +%s%3N > \"$AUTOTLS_TEST_B_DONE\" ) < /dev/null > /dev/null 2>&1 &\n"
	"  fi ;;\n"
	"del)\n"
	"  curl -fsS -o /dev/null -X POST -d \"{\\\"host\\\":\\\"$2.\\\"}\" \"$AUTOTLS_TEST_CHALL_URL/clear-txt\"\n"
	"  edit \"$AUTOTLS_TEST_KNOT_A\" zone-unset \"$2\" TXT \"$3\"\n"
	"  edit \"$AUTOTLS_TEST_KNOT_B\" zone-unset \"$2\" TXT \"$3\"\n"
	"  exit 0 ;;\n"
	"esac\n";

static int write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok && chmod(path, mode) == 0 ? 0 : -1;
}

static const char zone_example[] =
	"$ORIGIN example.test.\n$TTL 60\n"
	"@ SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60\n"
	"@ NS ns1.example.test.\n@ NS ns2.nsprov.test.\n@ NS ns3.example.test.\n@ NS ns4.example.test.\n"
	"ns1 A 127.0.53.1\nns3 A 127.0.53.3\nns4 A 127.0.53.4\n";

static const char zone_nsprov[] =
	"$ORIGIN nsprov.test.\n$TTL 60\n"
	"@ SOA ns.nsprov.test. hostmaster.nsprov.test. 1 3600 600 86400 60\n"
	"@ NS ns.nsprov.test.\nns A 127.0.53.53\n"
	"ns2 A 127.0.53.2\nns2 AAAA ::1\n";

enum { ZONE_EXAMPLE = 1, ZONE_NSPROV = 2 };

/* One knotd listening on listen (knot's syntax, e.g. "[ 127.0.53.2@53, ::1@53 ]") with the zones given. */
static int start_knot(struct knot *k, const char *listen, int zones, const char *ip)
{
	char conf[2048];
	if (knot_prepare(k) != 0)
		return -1;
	snprintf(conf, sizeof(conf),
		 "server:\n    rundir: %s\n    pidfile: %s/knotd.pid\n    listen: %s\n"
		 "database:\n    storage: %s\n"
		 "template:\n  - id: default\n    storage: %s\n    zonefile-sync: -1\n"
		 "zone:\n%s%s"
		 "log:\n  - target: stderr\n    any: info\n",
		 k->dir, k->dir, listen, k->dir, k->dir,
		 zones & ZONE_EXAMPLE ? "  - domain: example.test\n    file: example.test.zone\n" : "",
		 zones & ZONE_NSPROV ? "  - domain: nsprov.test\n    file: nsprov.test.zone\n" : "");
	if (knot_file(k, "knot.conf", conf) != 0 ||
	    ((zones & ZONE_EXAMPLE) && knot_file(k, "example.test.zone", zone_example) != 0) ||
	    ((zones & ZONE_NSPROV) && knot_file(k, "nsprov.test.zone", zone_nsprov) != 0))
		return -1;
	return knot_run(k, ip, 53, zones & ZONE_EXAMPLE ? "example.test" : "nsprov.test");
}

static void stop_all(void)
{
	knot_stop(&knot_r);
	knot_stop(&knot_a);
	knot_stop(&knot_b);
	knot_stop(&knot_l);
}

static int checked_present(void *ctx, const struct at_challenge *ch)
{
	static const char *const auth[] = { IP_A, IP_B, "::1" };
	enum at_dns_auth_answer ans;
	unsigned rcode;
	long t0 = harness_now_ms();
	int rc = real.present(ctx, ch);

	present_end = harness_now_ms();
	present_ms = present_end - t0;
	all_show = rc == 0;
	for (size_t i = 0; rc == 0 && i < sizeof(auth) / sizeof(auth[0]); i++)
		if (at_dns_auth_txt(auth[i], 53, ch->dns_txt_name, ch->dns_txt_value, 1, 2000, &ans, &rcode) != 0 ||
		    ans != AT_DNS_AUTH_SHOWS)
			all_show = 0;
	resolver_shows = at_dns_auth_txt(IP_R, 53, ch->dns_txt_name, ch->dns_txt_value, 1, 2000, &ans, &rcode) == 0 &&
			 ans == AT_DNS_AUTH_SHOWS;
	return rc;
}

/* Sets the configuration again (the hook, the wait, the resolver or the test's resolv.conf) and makes the
 * wrapped solver. */
static int configure(struct at_solver *s, const char *lag_b)
{
	setenv("AUTOTLS_TEST_LAG_B", lag_b, 1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.hook = hook_path;
	cfg.wait.wait_s = wait_s;
	cfg.wait.server = resolver;
	cfg.wait.server_port = 53;
	cfg.wait.server_label = "AUTOTLS_DNS_RESOLVER";
	cfg.wait.resolv_conf = resolv_path;
	if (at_dns01_hook_solver(&real, &cfg) != 0)
		return -1;
	at_log_set_level(AT_LOG_INFO); /* the manager's default (AUTOTLS_LOG_LEVEL): the checks read info lines */
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	*s = real;
	s->present = checked_present;
	present_ms = present_end = -1;
	all_show = resolver_shows = -1;
	unlink(calls_path);
	unlink(b_done_path);
	return 0;
}

static void start(void)
{
	REQUIRE(harness_netns_private() == 0);
	atexit(stop_all);
	REQUIRE(start_knot(&knot_r, IP_R "@53", ZONE_EXAMPLE | ZONE_NSPROV, IP_R) == 0);
	REQUIRE(start_knot(&knot_a, IP_A "@53", ZONE_EXAMPLE, IP_A) == 0);
	REQUIRE(start_knot(&knot_b, "[ " IP_B "@53, ::1@53 ]", ZONE_EXAMPLE, IP_B) == 0);
	REQUIRE(start_knot(&knot_l, IP_L "@53", ZONE_NSPROV, IP_L) == 0);
	REQUIRE(issue_env_start(&env, NULL) == 0);
	snprintf(hook_path, sizeof(hook_path), "%s/dns-hook.sh", env.p.workdir);
	snprintf(calls_path, sizeof(calls_path), "%s/hook-calls", env.p.workdir);
	snprintf(log_path, sizeof(log_path), "%s/test-log", env.p.workdir);
	snprintf(resolv_path, sizeof(resolv_path), "%s/resolv.conf", env.p.workdir);
	snprintf(b_done_path, sizeof(b_done_path), "%s/b-done", env.p.workdir);
	REQUIRE(write_file(hook_path, hook_script, 0755) == 0);
	REQUIRE(write_file(resolv_path, "search example.test\nnameserver " IP_R "\n", 0644) == 0);
	setenv("AUTOTLS_TEST_CHALL_URL", env.p.chall_mgmt_url, 1);
	setenv("AUTOTLS_TEST_HOOK_CALLS", calls_path, 1);
	setenv("AUTOTLS_TEST_KNOT_A", knot_a.dir, 1);
	setenv("AUTOTLS_TEST_KNOT_B", knot_b.dir, 1);
	setenv("AUTOTLS_TEST_B_DONE", b_done_path, 1);
	started = 1;
}

/* The lookup itself: the zone by its SOA in a NODATA answer, ns1 with glue, ns2 by A and AAAA queries. */
static void finds_the_servers(void)
{
	struct at_dns_auth a;
	REQUIRE(started);
	CHECK_OK(at_dns_auth_find(IP_R, 53, "_acme-challenge.lag.example.test", 5000, &a));
	CHECK_STR(a.zone, "example.test");
	CHECK_STR(a.name, "_acme-challenge.lag.example.test");
	CHECK_INT(a.nns, ==, 4);
	int ns1 = 0, ns2_v4 = 0, ns2_v6 = 0, ns3 = 0, ns4 = 0;
	for (size_t i = 0; i < a.naddr; i++) {
		const char *ns = a.ns[a.addr[i].server], *ip = a.addr[i].ip;
		ns1 += strcmp(ns, "ns1.example.test") == 0 && strcmp(ip, IP_A) == 0;
		ns2_v4 += strcmp(ns, "ns2.nsprov.test") == 0 && strcmp(ip, IP_B) == 0;
		ns2_v6 += strcmp(ns, "ns2.nsprov.test") == 0 && strcmp(ip, "::1") == 0;
		ns3 += strcmp(ns, "ns3.example.test") == 0 && strcmp(ip, "127.0.53.3") == 0;
		ns4 += strcmp(ns, "ns4.example.test") == 0 && strcmp(ip, IP_L) == 0;
	}
	CHECK_INT(a.naddr, ==, 5);
	CHECK(ns1 == 1 && ns2_v4 == 1 && ns2_v6 == 1 && ns3 == 1 && ns4 == 1);
	/* A name at the apex itself; one in a zone R does not serve (it answers REFUSED). */
	CHECK_OK(at_dns_auth_find(IP_R, 53, "example.test", 5000, &a));
	CHECK_STR(a.zone, "example.test");
	CHECK_INT(at_dns_auth_find(IP_R, 53, "_acme-challenge.nowhere.invalid", 5000, &a), ==, AT_E_NET);
}

/* B gets the record 3 s after A: present() returns only once B shows it, and the certificate verifies. */
static void lagging_server_waited_for(void)
{
	struct at_solver s;
	REQUIRE(started);
	REQUIRE(configure(&s, "3") == 0);
	const char *names[] = { "lag.example.test" };
	int ordered = 0;
	log_capture_begin(log_path);
	int rc = issue_env_issue(&env, &s, names, 1, &ordered);
	char *log = log_capture_end(log_path);
	CHECK_OK(rc);
	CHECK_INT(ordered, ==, 1);
	fprintf(stderr, "  present() took %ld ms with B lagging 3 s\n", present_ms);
	CHECK(present_ms >= 3000 && present_ms < 15000);
	CHECK_INT(all_show, ==, 1);
	CHECK_INT(resolver_shows, ==, 0); /* so the resolver was not what the wait relied on */
	char *done = harness_read_file(b_done_path, NULL);
	CHECK(done != NULL && atol(done) > 0);
	free(done);
	CHECK_INT(log_count_lines(log, "shows the value at all 5 addresses of the 4 authoritative servers of zone "
					"example.test after ", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "ns1.example.test " IP_A " after ", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "ns2.nsprov.test " IP_B " after ", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "ns2.nsprov.test ::1 after ", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "; left out: ns3.example.test 127.0.53.3 (no answer", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "ns4.example.test " IP_L " (answers REFUSED)", NULL), ==, 1); /* the lame one */
	free(log);
	char *calls = harness_read_file(calls_path, NULL);
	CHECK(calls != NULL && strstr(calls, "del _acme-challenge.lag.example.test ") != NULL);
	free(calls);
}

/* B never gets it: after the configured wait an error names B, the hook deletes, nothing is issued. */
static void server_never_updated(void)
{
	struct at_solver s;
	struct at_cert_record rec;
	int ordered = 0;
	REQUIRE(started);
	wait_s = 3;
	REQUIRE(configure(&s, "never") == 0);
	const char *names[] = { "never.example.test" };
	log_capture_begin(log_path);
	int rc = at_engine_ensure(env.engine, names, 1, &s, 1, 0, &rec, &ordered);
	char *log = log_capture_end(log_path);
	CHECK(rc != 0);
	if (rc == 0)
		at_cert_record_clear(&rec);
	fprintf(stderr, "  present() gave up after %ld ms with AUTOTLS_DNS_WAIT=3\n", present_ms);
	CHECK(present_ms >= 3000 && present_ms < 6000);
	CHECK_INT(log_count_lines(log, "_acme-challenge.never.example.test did not show the value at all 5 addresses "
					"of the 4 authoritative servers of zone example.test within 3 s", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "lagging: ", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "ns2.nsprov.test " IP_B " (not there yet)", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "ns2.nsprov.test ::1 (not there yet)", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "shown at: ns1.example.test " IP_A " after ", NULL), ==, 1);
	free(log);
	char *calls = harness_read_file(calls_path, NULL);
	CHECK(calls != NULL && strstr(calls, "del _acme-challenge.never.example.test ") != NULL);
	free(calls);
	struct at_cert_record got;
	int lr = harness_record_load(env.store, env.p.directory_url, "never.example.test", &got);
	CHECK_INT(lr, ==, AT_E_NOTFOUND);
	if (lr == 0)
		at_cert_record_clear(&got);
	wait_s = 30;
}

/* The resolver (AUTOTLS_DNS_RESOLVER) set to A: the record is checked there alone, so B never having it does not
 * matter. */
static void resolver_setting_checks_only_there(void)
{
	struct at_solver s;
	REQUIRE(started);
	resolver = IP_A;
	REQUIRE(configure(&s, "never") == 0);
	const char *names[] = { "resolver.example.test" };
	log_capture_begin(log_path);
	int rc = issue_env_issue(&env, &s, names, 1, NULL);
	char *log = log_capture_end(log_path);
	CHECK_OK(rc);
	CHECK(present_ms >= 0 && present_ms < 2000);
	CHECK_INT(all_show, ==, 0); /* B did not have it when the CA was told */
	CHECK_INT(log_count_lines(log, "_acme-challenge.resolver.example.test shows the value at AUTOTLS_DNS_RESOLVER "
					IP_A " port 53 after ", NULL), ==, 1);
	CHECK_INT(log_count_lines(log, "authoritative", NULL), ==, 0);
	free(log);
	resolver = NULL;
}

int main(void)
{
	harness_solver_lock_hold(); /* as the manager thread: the solver releases it while it waits */
	RUN(start);
	RUN(finds_the_servers);
	RUN(lagging_server_waited_for);
	RUN(server_never_updated);
	RUN(resolver_setting_checks_only_there);
	issue_env_stop(&env);
	stop_all();
	harness_solver_lock_drop();
	return TEST_EXIT();
}
