/*
 * DNS-01 through RFC 2136 updates signed with TSIG (shim/manager/dns01.c, dns/update.c) against a real
 * authoritative server: the test starts Debian's knotd as its own child on 127.0.0.1:<free port> with a config
 * in a temporary folder (zone example.test with SOA, NS and A records for the names, dynamic updates allowed for
 * two TSIG keys the test makes, hmac-sha256 and hmac-sha512), and starts Pebble with knotd as its DNS server, so
 * that Pebble validates against the records the updates wrote. An engine then orders through the solver:
 * tsig.example.test with *.tsig.example.test (one owner name, two values), and sha512.tsig.example.test with
 * the other key and AUTOTLS_DNS_ZONE set; each chain verifies and the records are gone afterwards. A wrong
 * secret fails with one BADSIG line, no secret in the log, and nothing issued.
 *
 * The manager's files are not in the core archive: the test compiles the ones it needs and sets up the
 * mgr_host the solver reads, holding the quiesce lock as the manager thread does.
 */
#include "shim/config.c"
#include "shim/manager/dns01.c"
#include "shim/manager/dns01_wait.c"
#include "shim/manager/quiesce.c"
#include "tests/harness/knot.h"
#include "tests/harness/records.h"
#include "tests/harness/proc.h"
#include "tests/harness/fake_env.h"
#include "tests/harness/issue_env.h"
#include "tests/harness/log_capture.h"
#include "tests/test.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct issue_env env;
static struct shim_config cfg;
static struct shim_host host;
static char log_path[PATH_MAX + 32], zone_file[128];
static char sha256_b64[64], sha512_b64[128], update_addr[64], tsig_value[256], zone_value[64];
static int knot_port;
static int started;

/* The settings the solver is configured from (shim_config_read through fake_env_getenv): buffers the
 * scenarios fill and change. */
static const char *const config_env[] = {
	"AUTOTLS_DOMAINS", "tsig.example.test",
	"AUTOTLS_STORAGE", env.store_dir,
	"AUTOTLS_DNS_UPDATE", update_addr,
	"AUTOTLS_DNS_TSIG", tsig_value,
	"AUTOTLS_DNS_ZONE", zone_value,
	"AUTOTLS_DNS_WAIT", "20",
	NULL,
};

static int configure(struct at_solver *s)
{
	shim_config_clear(&cfg);
	fake_env_use(config_env);
	if (shim_config_read(&cfg, fake_env_getenv) != 0)
		return -1;
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	return mgr_dns01_solver(s);
}

static int random_b64(char *out, size_t cap, size_t bytes)
{
	unsigned char raw[64];
	if (bytes > sizeof(raw) || 4 * ((bytes + 2) / 3) + 1 > cap || RAND_bytes(raw, (int)bytes) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, raw, (int)bytes);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

static struct knot knot;

static void knot_stop_at_exit(void)
{
	knot_stop(&knot);
}

/* Writes the config and the zone, starts knotd, and waits until it serves the zone. 0 or -1. */
static int knot_start(void)
{
	char conf[8192], zone[1024];

	if (knot_prepare(&knot) != 0 || random_b64(sha256_b64, sizeof(sha256_b64), 32) != 0 ||
	    random_b64(sha512_b64, sizeof(sha512_b64), 64) != 0)
		return -1;
	knot_port = harness_free_port();
	snprintf(conf, sizeof(conf),
		 "server:\n    rundir: %s\n    pidfile: %s/knotd.pid\n    listen: 127.0.0.1@%d\n"
		 "database:\n    storage: %s\n"
		 "key:\n  - id: acme-key.\n    algorithm: hmac-sha256\n    secret: %s\n"
		 "  - id: acme-512.\n    algorithm: hmac-sha512\n    secret: %s\n"
		 "acl:\n  - id: acme-update\n    key: [acme-key., acme-512.]\n    action: update\n"
		 "template:\n  - id: default\n    storage: %s\n    zonefile-sync: 0\n"
		 "zone:\n  - domain: example.test\n    file: example.test.zone\n    acl: acme-update\n"
		 "log:\n  - target: stderr\n    any: info\n",
		 knot.dir, knot.dir, knot_port, knot.dir, sha256_b64, sha512_b64, knot.dir);
	/* A records for every name ordered: Pebble resolves through knotd now. */
	snprintf(zone, sizeof(zone),
		 "$ORIGIN example.test.\n$TTL 60\n"
		 "@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n"
		 "@ NS ns\nns A 127.0.0.1\ntsig A 127.0.0.1\n*.tsig A 127.0.0.1\n");
	snprintf(zone_file, sizeof(zone_file), "%s/example.test.zone", knot.dir);
	if (knot_file(&knot, "knot.conf", conf) != 0 || knot_file(&knot, "example.test.zone", zone) != 0)
		return -1;
	return knot_run(&knot, "127.0.0.1", knot_port, "example.test");
}

/* The zone file as knotd last wrote it (zonefile-sync 0: after every update). */
static int zone_mentions(const char *needle)
{
	char *z = harness_read_file(zone_file, NULL);
	int hit = z != NULL && strstr(z, needle) != NULL;
	free(z);
	return hit;
}

static void start(void)
{
	REQUIRE(knot_start() == 0);
	struct pebble_opts o = { .dns_server_port = knot_port };
	REQUIRE(issue_env_start(&env, &o) == 0);
	snprintf(log_path, sizeof(log_path), "%s/test-log", env.p.workdir);
	snprintf(update_addr, sizeof(update_addr), "127.0.0.1:%d", knot_port);
	host.version = SHIM_HOST_API_VERSION;
	host.cfg = &cfg;
	mgr_host = &host;
	started = 1;
}

/* Without a hook, AUTOTLS_DNS_UPDATE makes the solver; the zone is found by SOA queries. */
static void issue_name_and_wildcard(void)
{
	struct at_solver s;
	REQUIRE(started);
	snprintf(tsig_value, sizeof(tsig_value), "hmac-sha256:acme-key.:%s", sha256_b64);
	zone_value[0] = '\0';
	REQUIRE(configure(&s) == 0);
	CHECK(s.type == AT_CHALLENGE_DNS_01);
	CHECK(cfg.dns_hook == NULL);
	const char *names[] = { "tsig.example.test", "*.tsig.example.test" };
	int ordered = 0;
	log_capture_begin(log_path);
	int rc = issue_env_issue(&env, &s, names, 2, &ordered);
	char *log = log_capture_end(log_path);
	CHECK_OK(rc);
	CHECK_INT(ordered, ==, 1);
	/* One owner name, two values: two adds and two deletes, each its own. */
	CHECK_INT(log_count_lines(log, "add TXT _acme-challenge.tsig.example.test in zone example.test", NULL), ==, 2);
	CHECK_INT(log_count_lines(log, "delete TXT _acme-challenge.tsig.example.test in zone example.test", NULL), ==,
		  2);
	CHECK(strstr(log, sha256_b64) == NULL);
	free(log);
	CHECK(!zone_mentions("_acme-challenge"));
	CHECK(zone_mentions("tsig")); /* the zone file is the one knotd rewrites */
}

/* The other algorithm, and the zone given instead of found. */
static void issue_sha512_zone_given(void)
{
	struct at_solver s;
	REQUIRE(started);
	snprintf(tsig_value, sizeof(tsig_value), "hmac-sha512:acme-512:%s", sha512_b64);
	snprintf(zone_value, sizeof(zone_value), "example.test.");
	REQUIRE(configure(&s) == 0);
	const char *names[] = { "sha512.tsig.example.test" };
	CHECK_OK(issue_env_issue(&env, &s, names, 1, NULL));
	CHECK(!zone_mentions("_acme-challenge"));
	zone_value[0] = '\0';
}

/* A secret the server does not share: BADSIG in one line, the secret nowhere, no certificate. */
static void wrong_secret(void)
{
	struct at_solver s;
	struct at_cert_record rec;
	char wrong[64];
	int ordered = 0;
	REQUIRE(started);
	REQUIRE(random_b64(wrong, sizeof(wrong), 32) == 0);
	snprintf(tsig_value, sizeof(tsig_value), "hmac-sha256:acme-key.:%s", wrong);
	REQUIRE(configure(&s) == 0);
	const char *names[] = { "bad.tsig.example.test" };
	log_capture_begin(log_path);
	int rc = at_engine_ensure(env.engine, names, 1, &s, 1, 0, &rec, &ordered);
	char *log = log_capture_end(log_path);
	CHECK(rc != 0);
	CHECK_INT(log_count_lines(log, "_acme-challenge.bad.tsig.example.test in zone example.test at 127.0.0.1",
				  NULL),
		  ==, 1);
	CHECK_INT(log_count_lines(log, "refused: BADSIG", NULL), ==, 1);
	CHECK(strstr(log, wrong) == NULL);
	CHECK(strstr(log, sha256_b64) == NULL);
	free(log);
	if (rc == 0)
		at_cert_record_clear(&rec);
	CHECK(!zone_mentions("_acme-challenge"));
	/* Nothing in the store for that name. */
	struct at_cert_record got;
	int lr = harness_record_load(env.store, env.p.directory_url, "bad.tsig.example.test", &got);
	CHECK_INT(lr, ==, AT_E_NOTFOUND);
	if (lr == 0)
		at_cert_record_clear(&got);
}

int main(void)
{
	mgr_quiesce_enter(); /* as the manager thread: the solver releases it while it waits */
	atexit(knot_stop_at_exit);
	RUN(start);
	RUN(issue_name_and_wildcard);
	RUN(issue_sha512_zone_given);
	RUN(wrong_secret);
	shim_config_clear(&cfg);
	issue_env_stop(&env);
	knot_stop(&knot);
	mgr_quiesce_leave();
	OPENSSL_cleanse(sha256_b64, sizeof(sha256_b64));
	OPENSSL_cleanse(sha512_b64, sizeof(sha512_b64));
	return TEST_EXIT();
}
