/*
 * DNS-01 through RFC 2136 updates signed with TSIG (challenge/dns01_rfc2136.c, dns/update.c) against a real
 * authoritative server: the test starts Debian's knotd as its own child on 127.0.0.1:<free port> with a config
 * in a temporary folder (zone example.test with SOA, NS and A records for the names, dynamic updates allowed for
 * two TSIG keys the test makes, hmac-sha256 and hmac-sha512), and starts Pebble with knotd as its DNS server, so
 * that Pebble validates against the records the updates wrote. An engine then orders through the solver:
 * tsig.example.test with *.tsig.example.test (one owner name, two values), and sha512.tsig.example.test with
 * the other key and the zone given (as AUTOTLS_DNS_ZONE); each chain verifies and the records are gone
 * afterwards. A wrong secret fails with one BADSIG line, no secret in the log, and nothing issued.
 *
 * The test's thread holds a lock the solver's wait hooks release while it waits, as the manager thread holds
 * its quiesce lock (tests/harness/solver_lock.h).
 */
#include "challenge/dns01_rfc2136.h"
#include "acme/solver.h"
#include "tests/harness/knot.h"
#include "tests/harness/records.h"
#include "tests/harness/proc.h"
#include "tests/harness/issue_env.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/solver_lock.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/log.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static struct issue_env env;
static struct at_dns01_rfc2136_config cfg;
static char log_path[PATH_MAX + 32], zone_file[128];
static unsigned char sha256_raw[32], sha512_raw[64];
static char sha256_b64[64], sha512_b64[128];
static int knot_port;
static int started;

/* Sets the configuration again (the server, the key, the zone when given) and makes the solver. */
static int configure(struct at_solver *s, enum at_tsig_alg alg, const char *key_name, const unsigned char *secret,
		     size_t secret_len, const char *zone)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = "127.0.0.1";
	cfg.port = knot_port;
	cfg.key.alg = alg;
	cfg.key.name = key_name;
	cfg.key.secret = secret;
	cfg.key.secret_len = secret_len;
	cfg.zone = zone;
	cfg.wait_s = 20;
	at_log_set_level(AT_LOG_INFO); /* the manager's default (AUTOTLS_LOG_LEVEL): the checks read info lines */
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	return at_dns01_rfc2136_solver(s, &cfg);
}

/* bytes random bytes into raw, and their base64 (for knotd's config and the log checks) into out. */
static int random_b64(unsigned char *raw, char *out, size_t cap, size_t bytes)
{
	if (bytes > 64 || 4 * ((bytes + 2) / 3) + 1 > cap || RAND_bytes(raw, (int)bytes) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)out, raw, (int)bytes);
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

	if (knot_prepare(&knot) != 0 || random_b64(sha256_raw, sha256_b64, sizeof(sha256_b64), 32) != 0 ||
	    random_b64(sha512_raw, sha512_b64, sizeof(sha512_b64), 64) != 0)
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
	started = 1;
}

/* The update server and its key make the solver; the zone is found by SOA queries. */
static void issue_name_and_wildcard(void)
{
	struct at_solver s;
	REQUIRE(started);
	REQUIRE(configure(&s, AT_TSIG_HMAC_SHA256, "acme-key", sha256_raw, sizeof(sha256_raw), NULL) == 0);
	CHECK(s.type == AT_CHALLENGE_DNS_01);
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
	REQUIRE(configure(&s, AT_TSIG_HMAC_SHA512, "acme-512", sha512_raw, sizeof(sha512_raw), "example.test") == 0);
	const char *names[] = { "sha512.tsig.example.test" };
	CHECK_OK(issue_env_issue(&env, &s, names, 1, NULL));
	CHECK(!zone_mentions("_acme-challenge"));
}

/* A secret the server does not share: BADSIG in one line, the secret nowhere, no certificate. */
static void wrong_secret(void)
{
	struct at_solver s;
	struct at_cert_record rec;
	unsigned char wrong_raw[32];
	char wrong[64];
	int ordered = 0;
	REQUIRE(started);
	REQUIRE(random_b64(wrong_raw, wrong, sizeof(wrong), 32) == 0);
	REQUIRE(configure(&s, AT_TSIG_HMAC_SHA256, "acme-key", wrong_raw, sizeof(wrong_raw), NULL) == 0);
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
	harness_solver_lock_hold(); /* as the manager thread: the solver releases it while it waits */
	atexit(knot_stop_at_exit);
	RUN(start);
	RUN(issue_name_and_wildcard);
	RUN(issue_sha512_zone_given);
	RUN(wrong_secret);
	issue_env_stop(&env);
	knot_stop(&knot);
	harness_solver_lock_drop();
	OPENSSL_cleanse(sha256_raw, sizeof(sha256_raw));
	OPENSSL_cleanse(sha512_raw, sizeof(sha512_raw));
	OPENSSL_cleanse(sha256_b64, sizeof(sha256_b64));
	OPENSSL_cleanse(sha512_b64, sizeof(sha512_b64));
	return TEST_EXIT();
}
