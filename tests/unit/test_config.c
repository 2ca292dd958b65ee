/*
 * The AUTOTLS_* settings: good values are taken, every bad value is refused with one log line that names the
 * variable (so the shim stays passive and the server runs as without it), and an unset AUTOTLS_DOMAINS is
 * silent.
 */
#include "shim/config.c" /* the preload's own file: not in the core archive */
#include "tests/harness/fake_env.h"
#include "tests/test.h"
#include "util/err.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs the parser with stderr captured; returns its result and what it logged. */
static int read_with(const char *const *v, struct shim_config *cfg, char *logbuf, size_t size)
{
	char path[] = "/tmp/at-config-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fake_env_use(v);
	int rc = shim_config_read(cfg, fake_env_getenv);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ssize_t n = pread(fd, logbuf, size - 1, 0);
	logbuf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	at_log_open(AT_LOG_SINK_STDERR, NULL, AT_LOG_WARN);
	return rc;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void good_values(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "Example.COM., www.example.com,example.com,127.0.0.1",
			    "AUTOTLS_CA", "https://ca.test/dir", "AUTOTLS_EMAIL", "ops@example.com",
			    "AUTOTLS_KEY_TYPE", "RSA2048", "AUTOTLS_STORAGE", "/var/lib/x", "AUTOTLS_LOG_LEVEL", "debug",
			    "AUTOTLS_HTTP_PORT", "8080", "AUTOTLS_HTTP_REDIRECT", "1", "AUTOTLS_WEBROOT", "/var/www/html",
			    "AUTOTLS_OCSP", "off", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.active, ==, 1);
	CHECK_INT(cfg.ndomains, ==, 3); /* normalised, duplicates dropped */
	CHECK_STR(cfg.domains[0], "example.com");
	CHECK_STR(cfg.domains[1], "www.example.com");
	CHECK_STR(cfg.domains[2], "127.0.0.1");
	CHECK_STR(cfg.ca, "https://ca.test/dir");
	CHECK_INT(cfg.key_type, ==, AT_KEY_RSA2048);
	CHECK_STR(cfg.storage, "/var/lib/x");
	CHECK_INT(cfg.storage_gid, ==, -1);
	CHECK_INT(cfg.http_port, ==, 8080);
	CHECK_INT(cfg.http_redirect, ==, 1);
	CHECK_INT(cfg.ocsp_off, ==, 1);
	CHECK_STR(cfg.webroot, "/var/www/html");
	CHECK_STR(log, "");
	shim_config_clear(&cfg);
}

/* AUTOTLS_MUST_STAPLE: on or off, off by default; on with AUTOTLS_OCSP=off is warned about. */
static void must_staple_values(void)
{
	const char *v_on[] = { "AUTOTLS_DOMAINS", "a.test", "AUTOTLS_MUST_STAPLE", "on", NULL };
	const char *v_none[] = { "AUTOTLS_DOMAINS", "a.test", NULL };
	const char *v_off[] = { "AUTOTLS_DOMAINS", "a.test", "AUTOTLS_MUST_STAPLE", "on", "AUTOTLS_OCSP", "off", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v_on, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.must_staple, ==, 1);
	CHECK_STR(log, "");
	shim_config_clear(&cfg);
	REQUIRE(read_with(v_none, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.must_staple, ==, 0);
	shim_config_clear(&cfg);
	REQUIRE(read_with(v_off, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.must_staple, ==, 1);
	CHECK(strstr(log, "AUTOTLS_MUST_STAPLE=on with AUTOTLS_OCSP=off") != NULL);
	shim_config_clear(&cfg);
}

/* Spaces around a comma are fine; a space inside a name is refused (bad_values_name_the_variable). */
static void domains_spaces_around_commas(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "  a.test ,b.test , c.test  ", "AUTOTLS_STORAGE", "/x", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.ndomains, ==, 3);
	CHECK_STR(cfg.domains[0], "a.test");
	CHECK_STR(cfg.domains[1], "b.test");
	CHECK_STR(cfg.domains[2], "c.test");
	CHECK_STR(log, "");
	shim_config_clear(&cfg);
}

static void defaults(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.ca, SHIM_DEFAULT_CA);
	CHECK_INT(cfg.key_type, ==, AT_KEY_P256);
	CHECK(cfg.email == NULL);
	CHECK_INT(cfg.http_port, ==, 80);
	CHECK_INT(cfg.http_redirect, ==, 0);
	CHECK_INT(cfg.ocsp_off, ==, 0); /* stapling is on unless turned off */
	CHECK(cfg.webroot == NULL);
	CHECK(cfg.sites == NULL);
	CHECK_INT(cfg.on_demand_rate, ==, 10);
	shim_config_clear(&cfg);
}

/* A folder store keeps this host's own files in the store folder, as always; an etcd store in AUTOTLS_STATE_DIR,
 * or the default location's local/ folder. */
static void storage_and_state_dir(void)
{
	const char *f[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", NULL };
	const char *e[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "etcd://127.0.0.1:2379,[::1]:2380/fl",
			    "AUTOTLS_STATE_DIR", "/var/lib/here", NULL };
	const char *d[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "etcds://e1.test/prod/web", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(f, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.storage, "/x");
	CHECK_STR(cfg.state_dir, "/x");
	shim_config_clear(&cfg);
	REQUIRE(read_with(e, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.storage, "etcd://127.0.0.1:2379,[::1]:2380/fl");
	CHECK_STR(cfg.state_dir, "/var/lib/here");
	shim_config_clear(&cfg);
	REQUIRE(read_with(d, &cfg, log, sizeof(log)) == 0);
	CHECK(cfg.state_dir != NULL && strstr(cfg.state_dir, "/autotls/local") != NULL);
	shim_config_clear(&cfg);
}

static void sites_and_rate(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_SITES", "/etc/sites",
			    "AUTOTLS_ON_DEMAND_RATE", "600", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.sites, "/etc/sites");
	CHECK_INT(cfg.on_demand_rate, ==, 600);
	shim_config_clear(&cfg);
}

/* A sites file alone turns the shim on (no leader's certificate); its errors still name the setting. */
static void sites_alone(void)
{
	const char *v[] = { "AUTOTLS_STORAGE", "/x", "AUTOTLS_SITES", "/etc/sites", NULL };
	const char *rel[] = { "AUTOTLS_STORAGE", "/x", "AUTOTLS_SITES", "sites.txt", NULL };
	const char *badca[] = { "AUTOTLS_SITES", "/etc/sites", "AUTOTLS_CA", "ftp://x", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.active, ==, 1);
	CHECK_INT(cfg.ndomains, ==, 0);
	CHECK_STR(cfg.sites, "/etc/sites");
	shim_config_clear(&cfg);
	CHECK_INT(read_with(rel, &cfg, log, sizeof(log)), ==, AT_E_INVAL);
	CHECK(strstr(log, "AUTOTLS_SITES") != NULL && strstr(log, "absolute") != NULL);
	CHECK_INT(read_with(badca, &cfg, log, sizeof(log)), ==, AT_E_INVAL);
	CHECK(strstr(log, "AUTOTLS_CA") != NULL);
}

static void dns_values(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_DNS_HOOK", "/bin/true",
			    "AUTOTLS_DNS_RESOLVER", "127.0.0.1:8053", "AUTOTLS_DNS_WAIT", "5",
			    "AUTOTLS_TEST_RESOLV_CONF", "/tmp/resolv.conf", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.dns_resolv_conf, "/tmp/resolv.conf");
	CHECK_STR(cfg.dns_hook, "/bin/true");
	CHECK_STR(cfg.dns_resolver, "127.0.0.1");
	CHECK_INT(cfg.dns_resolver_port, ==, 8053);
	CHECK_INT(cfg.dns_wait_s, ==, 5);
	CHECK_STR(log, "");
	shim_config_clear(&cfg);

	const char *w[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_DNS_RESOLVER", "[::1]",
			    NULL };
	REQUIRE(read_with(w, &cfg, log, sizeof(log)) == 0);
	CHECK(cfg.dns_hook == NULL);
	CHECK_STR(cfg.dns_resolver, "::1");
	CHECK_INT(cfg.dns_resolver_port, ==, 53);
	CHECK_INT(cfg.dns_wait_s, ==, 60); /* the default */
	shim_config_clear(&cfg);

	const char *x[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_DNS_RESOLVER",
			    "[2001:db8::53]:5353", NULL };
	REQUIRE(read_with(x, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.dns_resolver, "2001:db8::53");
	CHECK_INT(cfg.dns_resolver_port, ==, 5353);
	shim_config_clear(&cfg);
}

/* AUTOTLS_HOOK: an executable's absolute path; the time limit 30 s unless AUTOTLS_HOOK_TIMEOUT says otherwise. A
 * bad value's line names the variable and the fix. */
static void hook_values(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_HOOK", "/bin/true",
			    "AUTOTLS_HOOK_TIMEOUT", "5", NULL };
	const char *d[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", NULL };
	const char *bad[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_HOOK", "hook.sh", NULL };
	const char *badt[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_HOOK_TIMEOUT",
			       "0", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.hook, "/bin/true");
	CHECK_INT(cfg.hook_timeout_s, ==, 5);
	CHECK_STR(log, "");
	shim_config_clear(&cfg);
	REQUIRE(read_with(d, &cfg, log, sizeof(log)) == 0);
	CHECK(cfg.hook == NULL);
	CHECK_INT(cfg.hook_timeout_s, ==, 30);
	shim_config_clear(&cfg);
	CHECK_INT(read_with(bad, &cfg, log, sizeof(log)), ==, AT_E_INVAL);
	CHECK(strstr(log, "AUTOTLS_HOOK: \"hook.sh\" is not an absolute path to an executable file; give the full "
			  "path") != NULL);
	CHECK_INT(read_with(badt, &cfg, log, sizeof(log)), ==, AT_E_INVAL);
	CHECK(strstr(log, "AUTOTLS_HOOK_TIMEOUT: \"0\" is not a number of seconds (the hook's time limit) from 1 "
			  "to 3600") != NULL);
}

static void unset_is_silent(void)
{
	const char *v[] = { "AUTOTLS_EMAIL", "ops@example.com", NULL };
	struct shim_config cfg;
	char log[2048];
	CHECK_INT(read_with(v, &cfg, log, sizeof(log)), ==, AT_E_NOTFOUND);
	CHECK_INT(cfg.active, ==, 0);
	CHECK_STR(log, "");
}

/* RFC 2136: the server, the TSIG key (its secret decoded, never logged) and the optional zone. */
static void dns_update_values(void)
{
	/* "c2VjcmV0LWJ5dGVzIQ==" is base64 of "secret-bytes!" */
	const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_DNS_UPDATE",
			    "[2001:db8::53]:5353", "AUTOTLS_DNS_TSIG", "HMAC-SHA512:Acme-Key.Example.:c2VjcmV0LWJ5dGVzIQ==",
			    "AUTOTLS_DNS_ZONE", "Example.COM.", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.dns_update, "2001:db8::53");
	CHECK_INT(cfg.dns_update_port, ==, 5353);
	CHECK_INT(cfg.dns_tsig_alg, ==, AT_TSIG_HMAC_SHA512);
	CHECK_STR(cfg.dns_tsig_name, "acme-key.example");
	CHECK_INT(cfg.dns_tsig_secret_len, ==, 13);
	CHECK(cfg.dns_tsig_secret != NULL && memcmp(cfg.dns_tsig_secret, "secret-bytes!", 13) == 0);
	CHECK_STR(cfg.dns_zone, "example.com");
	CHECK_STR(log, "");
	shim_config_clear(&cfg);
	CHECK(cfg.dns_tsig_secret == NULL && cfg.dns_tsig_secret_len == 0);

	const char *w[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_DNS_UPDATE", "127.0.0.1",
			    "AUTOTLS_DNS_TSIG", "hmac-sha256:k:YQ==", NULL };
	REQUIRE(read_with(w, &cfg, log, sizeof(log)) == 0);
	CHECK_STR(cfg.dns_update, "127.0.0.1");
	CHECK_INT(cfg.dns_update_port, ==, 53);
	CHECK_INT(cfg.dns_tsig_alg, ==, AT_TSIG_HMAC_SHA256);
	CHECK_INT(cfg.dns_tsig_secret_len, ==, 1);
	CHECK(cfg.dns_zone == NULL);
	shim_config_clear(&cfg);

	/* Rows that need both set: each bad value is one line naming the variable, and no secret in the log. */
	static const struct {
		const char *var, *value;
	} t[] = {
		{ "AUTOTLS_DNS_ZONE", "exa mple.com" },
		{ "AUTOTLS_DNS_ZONE", "a..b" },
		{ "AUTOTLS_DNS_TSIG", "hmac-md5:k:c2VjcmV0LWJ5dGVzIQ==" },
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:bad/name:c2VjcmV0LWJ5dGVzIQ==" },
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256::c2VjcmV0LWJ5dGVzIQ==" },
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:c2VjcmV0LWJ5dGVzIQ" },    /* padding missing */
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:c2VjcmV0LWJ5dGVzIQ=a" },  /* a character after padding */
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:c2VjcmV0LW*5dGVzIQ==" },  /* not in the alphabet */
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:c2VjcmV0LWJ5dGVz_Q==" },  /* the base64url alphabet */
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:YQ==YQ==" },              /* padding before the end */
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:Y===" },                  /* three padding characters */
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:" },
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k" },
		{ "AUTOTLS_DNS_TSIG", "c2VjcmV0LWJ5dGVzIQ==" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *x[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", "AUTOTLS_DNS_UPDATE",
				    "127.0.0.1", "AUTOTLS_DNS_TSIG", "hmac-sha256:k:c2VjcmV0LWJ5dGVzIQ==", t[i].var, t[i].value,
				    NULL };
		if (strcmp(t[i].var, "AUTOTLS_DNS_TSIG") == 0) {
			x[6] = t[i].var;
			x[7] = t[i].value;
			x[8] = NULL;
		}
		int rc = read_with(x, &cfg, log, sizeof(log));
		CHECK_INT(rc, ==, AT_E_INVAL);
		CHECK_INT(cfg.active, ==, 0);
		if (strstr(log, t[i].var) == NULL || count_lines(log) != 1)
			fprintf(stderr, "  %s=%s logged: %s\n", t[i].var, t[i].value, log);
		CHECK(strstr(log, t[i].var) != NULL);
		CHECK_INT(count_lines(log), ==, 1);
		CHECK(strstr(log, "c2VjcmV0") == NULL);
	}
}

static void bad_values_name_the_variable(void)
{
	static const struct {
		const char *var, *value;
	} t[] = {
		{ "AUTOTLS_DOMAINS", "../etc" },
		{ "AUTOTLS_DOMAINS", "a b,,c/d" },
		{ "AUTOTLS_DOMAINS", "," },
		{ "AUTOTLS_DOMAINS", "bad domain" },
		{ "AUTOTLS_DOMAINS", "a.test, bad domain ,b.test" },
		{ "AUTOTLS_CA", "ftp://ca.test/dir" },
		{ "AUTOTLS_CA", "http://ca.test/dir" }, /* RFC 8555 section 6.1: HTTPS only */
		{ "AUTOTLS_CA", "HTTP://ca.test/dir" },
		{ "AUTOTLS_CA_ROOTS", "relative/roots.pem" },
		{ "AUTOTLS_EMAIL", "not-an-address" },
		{ "AUTOTLS_EMAIL", "a@b.c,d@e.f" },
		{ "AUTOTLS_KEY_TYPE", "ed25519" },
		{ "AUTOTLS_STORAGE", "relative" },
		{ "AUTOTLS_STORAGE", "etcd://127.0.0.1:2379" },
		{ "AUTOTLS_STORAGE", "etcd://127.0.0.1:99999/fleet" },
		{ "AUTOTLS_STATE_DIR", "relative" },
		{ "AUTOTLS_LOG_LEVEL", "loud" },
		{ "AUTOTLS_LOG", "somewhere" },
		{ "AUTOTLS_STORAGE_GROUP", "no-such-group-autotls" },
		{ "AUTOTLS_CHALLENGES", "tls-sni-01" },
		{ "AUTOTLS_ON_DEMAND", "yes" },
		{ "AUTOTLS_ON_DEMAND_WAIT", "600" },
		{ "AUTOTLS_ON_DEMAND_WAIT", "soon" },
		{ "AUTOTLS_ON_DEMAND_RATE", "0" },
		{ "AUTOTLS_ON_DEMAND_RATE", "6001" },
		{ "AUTOTLS_ON_DEMAND_RATE", "fast" },
		{ "AUTOTLS_SITES", "sites.txt" },
		{ "AUTOTLS_ALLOW", "../x" },
		{ "AUTOTLS_ALLOW", "127.0.0.1" },
		{ "AUTOTLS_ASK", "ftp://ask.test/" },
		{ "AUTOTLS_CHALLENGES", "http-01,dns" },
		{ "AUTOTLS_CHALLENGES", " , " },
		{ "AUTOTLS_HTTP_PORT", "0" },
		{ "AUTOTLS_HTTP_PORT", "65536" },
		{ "AUTOTLS_HTTP_PORT", "80x" },
		{ "AUTOTLS_HTTP_PORT", "-80" },
		{ "AUTOTLS_HTTP_PORT", " 80" },
		{ "AUTOTLS_HTTP_REDIRECT", "yes" },
		{ "AUTOTLS_HTTP_REDIRECT", "2" },
		{ "AUTOTLS_OCSP", "no" },
		{ "AUTOTLS_OCSP", "OFF" },
		{ "AUTOTLS_MUST_STAPLE", "1" },
		{ "AUTOTLS_MUST_STAPLE", "yes" },
		{ "AUTOTLS_WEBROOT", "var/www/html" },
		{ "AUTOTLS_DNS_HOOK", "relative/hook.sh" },
		{ "AUTOTLS_DNS_HOOK", "/nonexistent/autotls-hook" },
		{ "AUTOTLS_DNS_HOOK", "/etc/passwd" },   /* not executable */
		{ "AUTOTLS_DNS_HOOK", "/tmp" },          /* not a file */
		{ "AUTOTLS_HOOK", "hook.sh" },
		{ "AUTOTLS_HOOK", "/nonexistent/autotls-event-hook" },
		{ "AUTOTLS_HOOK", "/etc/passwd" },       /* not executable */
		{ "AUTOTLS_HOOK", "/tmp" },              /* not a file */
		{ "AUTOTLS_HOOK_TIMEOUT", "0" },
		{ "AUTOTLS_HOOK_TIMEOUT", "3601" },
		{ "AUTOTLS_HOOK_TIMEOUT", "30s" },
		{ "AUTOTLS_HOOK_TIMEOUT", "-1" },
		{ "AUTOTLS_DNS_RESOLVER", "dns.example.com:53" },
		{ "AUTOTLS_DNS_RESOLVER", "127.0.0.1:" },
		{ "AUTOTLS_DNS_RESOLVER", "127.0.0.1:70000" },
		{ "AUTOTLS_DNS_RESOLVER", "127.0.0.1:53x" },
		{ "AUTOTLS_DNS_RESOLVER", "[::1" },
		{ "AUTOTLS_DNS_RESOLVER", "[::1]x" },
		{ "AUTOTLS_DNS_RESOLVER", "[127.0.0.1]:53" },
		{ "AUTOTLS_DNS_RESOLVER", "::1:53" },
		{ "AUTOTLS_TEST_RESOLV_CONF", "resolv.conf" },
		{ "AUTOTLS_DNS_WAIT", "0" },
		{ "AUTOTLS_DNS_WAIT", "3601" },
		{ "AUTOTLS_DNS_WAIT", "-5" },
		{ "AUTOTLS_DNS_WAIT", "10s" },
		{ "AUTOTLS_DNS_UPDATE", "127.0.0.1" },          /* without AUTOTLS_DNS_TSIG */
		{ "AUTOTLS_DNS_UPDATE", "ns1.example.com" },
		{ "AUTOTLS_DNS_UPDATE", "127.0.0.1:0" },
		{ "AUTOTLS_DNS_TSIG", "hmac-sha256:k:YQ==" },   /* without AUTOTLS_DNS_UPDATE */
		{ "AUTOTLS_DNS_ZONE", "example.com" },          /* without AUTOTLS_DNS_UPDATE */
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", t[i].var, t[i].value, NULL };
		/* the bad variable comes last in the table, so it overrides the good one of the same name */
		const char *w[7];
		memcpy(w, v, sizeof(v));
		if (strcmp(t[i].var, "AUTOTLS_DOMAINS") == 0 || strcmp(t[i].var, "AUTOTLS_STORAGE") == 0) {
			w[0] = t[i].var;
			w[1] = t[i].value;
			w[2] = strcmp(t[i].var, "AUTOTLS_STORAGE") == 0 ? "AUTOTLS_DOMAINS" : "AUTOTLS_STORAGE";
			w[3] = strcmp(t[i].var, "AUTOTLS_STORAGE") == 0 ? "example.com" : "/x";
			w[4] = NULL;
		}
		struct shim_config cfg;
		char log[2048];
		int rc = read_with(w, &cfg, log, sizeof(log));
		CHECK_INT(rc, ==, AT_E_INVAL);
		CHECK_INT(cfg.active, ==, 0);
		if (strstr(log, t[i].var) == NULL)
			fprintf(stderr, "  %s=%s logged: %s\n", t[i].var, t[i].value, log);
		CHECK(strstr(log, t[i].var) != NULL);
		CHECK_INT(count_lines(log), ==, 1);
	}
}

/* AUTOTLS_CA as a list, the EAB settings of each CA, AUTOTLS_PROFILE, AUTOTLS_PREFERRED_CHAIN. */
static void ca_values(void)
{
	const char *v[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x",
			    "AUTOTLS_CA", "https://one.test/dir, https://two.test/dir,https://three.test/d",
			    "AUTOTLS_EAB_KID", "kid-1", "AUTOTLS_EAB_HMAC_KEY", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
			    "AUTOTLS_EAB_KID_3", "k3", "AUTOTLS_EAB_HMAC_KEY_3", "c2VjcmV0LWJ5dGVzIQ",
			    "AUTOTLS_PROFILE", "shortlived", "AUTOTLS_PREFERRED_CHAIN", "ISRG Root X2", NULL };
	struct shim_config cfg;
	char log[2048];
	REQUIRE(read_with(v, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.ncas, ==, 3);
	CHECK_STR(cfg.ca, "https://one.test/dir");
	CHECK_STR(cfg.cas[0], "https://one.test/dir");
	CHECK_STR(cfg.cas[1], "https://two.test/dir");
	CHECK_STR(cfg.cas[2], "https://three.test/d");
	CHECK_STR(cfg.eab_kid[0], "kid-1");
	CHECK(cfg.eab_kid[1] == NULL && cfg.eab_hmac_key[1] == NULL);
	CHECK_STR(cfg.eab_kid[2], "k3");
	CHECK_STR(cfg.eab_hmac_key[2], "c2VjcmV0LWJ5dGVzIQ");
	CHECK_STR(cfg.profile, "shortlived");
	CHECK_STR(cfg.preferred_chain, "ISRG Root X2");
	CHECK_INT(count_lines(log), ==, 0);
	shim_config_clear(&cfg);

	/* One URL, no EAB: the list of one. */
	const char *one[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", NULL };
	REQUIRE(read_with(one, &cfg, log, sizeof(log)) == 0);
	CHECK_INT(cfg.ncas, ==, 1);
	CHECK_STR(cfg.cas[0], SHIM_DEFAULT_CA);
	CHECK(cfg.eab_kid[0] == NULL && cfg.profile == NULL && cfg.preferred_chain == NULL);
	shim_config_clear(&cfg);

	/* Each bad value: one line naming the setting, no secret in it. */
	static const struct {
		const char *var, *value, *var2, *value2;
	} t[] = {
		{ "AUTOTLS_CA", "https://a.test/dir,ftp://b.test/dir", NULL, NULL },
		{ "AUTOTLS_CA", "https://a.test/dir,https://a.test/dir", NULL, NULL },
		{ "AUTOTLS_CA", "https://a.test/1,https://a.test/2,https://a.test/3,https://a.test/4,https://a.test/5",
		  NULL, NULL },
		{ "AUTOTLS_CA", " , ", NULL, NULL },
		{ "AUTOTLS_CA", "https://", NULL, NULL },
		{ "AUTOTLS_EAB_KID", "kid-1", NULL, NULL },                                  /* without the key */
		{ "AUTOTLS_EAB_HMAC_KEY", "c2VjcmV0LWJ5dGVzIQ", NULL, NULL },              /* without the kid */
		{ "AUTOTLS_EAB_HMAC_KEY", "c2VjcmV0LWJ5dGVzIQ*", "AUTOTLS_EAB_KID", "kid-1" }, /* not base64url */
		{ "AUTOTLS_EAB_HMAC_KEY", "c2VjcmV0 LWJ5dGVzIQ", "AUTOTLS_EAB_KID", "kid-1" },  /* a space */
		{ "AUTOTLS_EAB_HMAC_KEY", "c2VjcmV0", "AUTOTLS_EAB_KID", "kid-1" },         /* 6 bytes: too short */
		{ "AUTOTLS_EAB_KID", "kid 1", "AUTOTLS_EAB_HMAC_KEY", "c2VjcmV0LWJ5dGVzIQ" },
		{ "AUTOTLS_EAB_KID_2", "kid-2", "AUTOTLS_EAB_HMAC_KEY_2", "c2VjcmV0LWJ5dGVzIQ" }, /* one CA only */
		{ "AUTOTLS_PROFILE", "short lived", NULL, NULL },
		{ "AUTOTLS_PROFILE", "x/y", NULL, NULL },
		{ "AUTOTLS_PREFERRED_CHAIN", "ISRG\nRoot", NULL, NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *x[] = { "AUTOTLS_DOMAINS", "example.com", "AUTOTLS_STORAGE", "/x", t[i].var, t[i].value,
				    t[i].var2, t[i].value2, NULL };
		int rc = read_with(x, &cfg, log, sizeof(log));
		CHECK_INT(rc, ==, AT_E_INVAL);
		CHECK_INT(cfg.active, ==, 0);
		if (strstr(log, t[i].var) == NULL || count_lines(log) != 1)
			fprintf(stderr, "  %s logged: %s\n", t[i].var, log);
		CHECK(strstr(log, t[i].var) != NULL);
		CHECK_INT(count_lines(log), ==, 1);
		CHECK(strstr(log, "c2VjcmV0") == NULL);
	}
}

int main(void)
{
	RUN(must_staple_values);
	RUN(good_values);
	RUN(domains_spaces_around_commas);
	RUN(defaults);
	RUN(sites_and_rate);
	RUN(sites_alone);
	RUN(dns_values);
	RUN(dns_update_values);
	RUN(hook_values);
	RUN(unset_is_silent);
	RUN(storage_and_state_dir);
	RUN(ca_values);
	RUN(bad_values_name_the_variable);
	return TEST_EXIT();
}
