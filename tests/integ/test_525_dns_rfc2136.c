/*
 * DNS-01 through RFC 2136 updates signed with TSIG (shim/manager/dns01.c, util/dns_update.c) against a real
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
#include "shim/manager/quiesce.c"
#include "tests/harness/proc.h"
#include "tests/integ/issue_env.h"
#include "tests/test.h"
#include "util/dns.h"

#include <ftw.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#define KNOTD "/usr/sbin/knotd"

static struct issue_env env;
static struct shim_config cfg;
static struct shim_host host;
static char knot_dir[64], log_path[PATH_MAX + 32], zone_file[128];
static char sha256_b64[64], sha512_b64[128], update_addr[64], tsig_value[256], zone_value[64];
static int knot_port;
static pid_t knot_pid = -1;
static int started;

static const char *fake_getenv(const char *name)
{
	if (strcmp(name, "AUTOTLS_DOMAINS") == 0)
		return "tsig.example.test";
	if (strcmp(name, "AUTOTLS_STORAGE") == 0)
		return env.store_dir;
	if (strcmp(name, "AUTOTLS_DNS_UPDATE") == 0)
		return update_addr;
	if (strcmp(name, "AUTOTLS_DNS_TSIG") == 0)
		return tsig_value;
	if (strcmp(name, "AUTOTLS_DNS_ZONE") == 0)
		return zone_value;
	if (strcmp(name, "AUTOTLS_DNS_WAIT") == 0)
		return "20";
	return NULL;
}

static int configure(struct at_solver *s)
{
	shim_config_clear(&cfg);
	if (shim_config_read(&cfg, fake_getenv) != 0)
		return -1;
	if (getenv("AUTOTLS_TEST_DEBUG"))
		at_log_set_level(AT_LOG_DEBUG);
	return mgr_dns01_solver(s);
}

/* Sends stderr (where the log goes) to log_path until log_end. */
static int saved_stderr = -1;
static void log_begin(void)
{
	int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static char *log_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	char *text = harness_read_file(log_path, NULL);
	fprintf(stderr, "%s", text ? text : "");
	return text;
}

static int count_lines_with(const char *text, const char *needle)
{
	int n = 0;
	for (const char *l = text; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), l);
		n += strstr(line, needle) != NULL;
		l = e ? e + 1 : NULL;
	}
	return n;
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

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void knot_stop(void)
{
	if (knot_pid > 0) {
		kill(knot_pid, SIGTERM);
		long deadline = harness_now_ms() + 3000;
		while (waitpid(knot_pid, NULL, WNOHANG) == 0) {
			if (harness_now_ms() > deadline) {
				kill(knot_pid, SIGKILL);
				waitpid(knot_pid, NULL, 0);
				break;
			}
			harness_sleep_ms(10);
		}
		knot_pid = -1;
	}
	if (knot_dir[0] != '\0')
		nftw(knot_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	knot_dir[0] = '\0';
}

/* Writes the config and the zone, starts knotd in the foreground as our child, and waits until it serves the
 * zone. 0 or -1. */
static int knot_start(void)
{
	char conf[8192], path[128], zone[1024], knot_log[128];

	if (access(KNOTD, X_OK) != 0) {
		fprintf(stderr, "  %s is missing: install the knot package (scripts/deps.sh)\n", KNOTD);
		return -1;
	}
	snprintf(knot_dir, sizeof(knot_dir), "/tmp/at-knot-XXXXXX");
	if (mkdtemp(knot_dir) == NULL || random_b64(sha256_b64, sizeof(sha256_b64), 32) != 0 ||
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
		 knot_dir, knot_dir, knot_port, knot_dir, sha256_b64, sha512_b64, knot_dir);
	snprintf(path, sizeof(path), "%s/knot.conf", knot_dir);
	if (write_text(path, conf) != 0)
		return -1;
	/* A records for every name ordered: Pebble resolves through knotd now. */
	snprintf(zone, sizeof(zone),
		 "$ORIGIN example.test.\n$TTL 60\n"
		 "@ SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60\n"
		 "@ NS ns\nns A 127.0.0.1\ntsig A 127.0.0.1\n*.tsig A 127.0.0.1\n");
	snprintf(zone_file, sizeof(zone_file), "%s/example.test.zone", knot_dir);
	if (write_text(zone_file, zone) != 0)
		return -1;
	snprintf(knot_log, sizeof(knot_log), "%s/knotd.log", knot_dir);

	knot_pid = fork();
	if (knot_pid < 0)
		return -1;
	if (knot_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(knot_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0)
			_exit(127);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(KNOTD, "knotd", "-c", path, (char *)NULL);
		_exit(127);
	}
	for (long deadline = harness_now_ms() + 10000; harness_now_ms() < deadline; harness_sleep_ms(20)) {
		int found = 0;
		if (waitpid(knot_pid, NULL, WNOHANG) == knot_pid) {
			knot_pid = -1;
			break;
		}
		if (at_dns_is_zone("127.0.0.1", knot_port, "example.test", 500, &found) == 0 && found)
			return 0;
	}
	char *log = harness_read_file(knot_log, NULL);
	fprintf(stderr, "  knotd did not serve example.test on port %d; its log:\n%s\n", knot_port, log ? log : "");
	free(log);
	return -1;
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
	REQUIRE(env_start(&env, &o) == 0);
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
	log_begin();
	int rc = env_issue(&env, &s, names, 2, &ordered);
	char *log = log_end();
	CHECK_OK(rc);
	CHECK_INT(ordered, ==, 1);
	/* One owner name, two values: two adds and two deletes, each its own. */
	CHECK_INT(count_lines_with(log, "add TXT _acme-challenge.tsig.example.test in zone example.test"), ==, 2);
	CHECK_INT(count_lines_with(log, "delete TXT _acme-challenge.tsig.example.test in zone example.test"), ==, 2);
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
	CHECK_OK(env_issue(&env, &s, names, 1, NULL));
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
	log_begin();
	int rc = at_engine_ensure(env.engine, names, 1, &s, 1, 0, &rec, &ordered);
	char *log = log_end();
	CHECK(rc != 0);
	CHECK_INT(count_lines_with(log, "_acme-challenge.bad.tsig.example.test in zone example.test at 127.0.0.1"), ==,
		  1);
	CHECK_INT(count_lines_with(log, "refused: BADSIG"), ==, 1);
	CHECK(strstr(log, wrong) == NULL);
	CHECK(strstr(log, sha256_b64) == NULL);
	free(log);
	if (rc == 0)
		at_cert_record_clear(&rec);
	CHECK(!zone_mentions("_acme-challenge"));
	/* Nothing in the store for that name. */
	struct at_cert_record got;
	char ca[256];
	REQUIRE(at_store_ca_component(ca, sizeof(ca), env.p.directory_url) == 0);
	int lr = at_cert_record_load(env.store, ca, "bad.tsig.example.test", &got);
	CHECK_INT(lr, ==, AT_E_NOTFOUND);
	if (lr == 0)
		at_cert_record_clear(&got);
}

int main(void)
{
	mgr_quiesce_enter(); /* as the manager thread: the solver releases it while it waits */
	atexit(knot_stop);
	RUN(start);
	RUN(issue_name_and_wildcard);
	RUN(issue_sha512_zone_given);
	RUN(wrong_secret);
	shim_config_clear(&cfg);
	env_stop(&env);
	knot_stop();
	mgr_quiesce_leave();
	OPENSSL_cleanse(sha256_b64, sizeof(sha256_b64));
	OPENSSL_cleanse(sha512_b64, sizeof(sha512_b64));
	return TEST_EXIT();
}
