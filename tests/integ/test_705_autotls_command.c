/*
 * The autotls command against a store a server under the shim fills: `openssl s_server` gets a Pebble
 * certificate (600 s of validity); `autotls status --json` lists the managed name with the issuer, serial and
 * notAfter that a client sees in the verified handshake, the key type, a renewal time inside the lifetime and
 * no last error; `autotls check` exits 0 for the fresh certificate, 1 and 2 at the warning and critical
 * thresholds (given in seconds), 2 when the managed name has no certificate, and 3 when the store cannot be read
 * (no such folder, a file, a folder this user cannot enter), and creates no store while looking.
 */
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static struct shim_env env;
static struct tls_client_result seen;
static char cli[PATH_MAX], out[16384];

/* Runs `autotls ARGS` with the server's CA settings (and extra, "" or "NAME=value ") in the environment. */
static int autotls(const char *extra, const char *args)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "env AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s %s%s %s", env.p.directory_url, env.ca_roots,
		 extra, cli, args);
	return harness_command(cmd, out, sizeof(out));
}

static void server_gets_a_certificate(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	shim_env_validity_s = 600;
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	REQUIRE(started);
	CHECK(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	CHECK_OK(shim_try_verified(&env, SHIM_NAME, NULL, 0, &seen));
	fprintf(stderr, "  the client sees serial %s, issuer %s, notAfter %lld\n", seen.serial, seen.issuer,
		seen.not_after);
	if (test_failed_now)
		shim_env_dump(&env);
}

static void status_json_matches_the_handshake(void)
{
	char args[600];
	snprintf(args, sizeof(args), "--storage %s status --json", env.store);
	CHECK_OK(autotls("", args));
	cJSON *j = cJSON_Parse(out);
	REQUIRE(j != NULL);
	const cJSON *certs = cJSON_GetObjectItemCaseSensitive(j, "certificates");
	CHECK_INT(cJSON_GetArraySize(certs), ==, 1);
	const cJSON *c = cJSON_GetArrayItem(certs, 0);
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
	const char *issuer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "issuer"));
	const char *serial = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "serial"));
	const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "key_type"));
	const cJSON *na = cJSON_GetObjectItemCaseSensitive(c, "not_after");
	const cJSON *nb = cJSON_GetObjectItemCaseSensitive(c, "not_before");
	const cJSON *ren = cJSON_GetObjectItemCaseSensitive(c, "renewal");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(ren, "at");
	const char *rule = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ren, "rule"));
	REQUIRE(name && issuer && serial && key && cJSON_IsNumber(na) && cJSON_IsNumber(nb) && cJSON_IsNumber(at) &&
		rule);
	CHECK_STR(name, SHIM_NAME);
	/* The client prints the issuer as /CN=..., the store as RFC 2253: the CN is what both must carry. */
	const char *cn = strstr(seen.issuer, "CN=");
	REQUIRE(cn != NULL);
	CHECK(strstr(issuer, cn) != NULL);
	CHECK(strcasecmp(serial, seen.serial) == 0);
	CHECK_INT((long long)na->valuedouble, ==, seen.not_after);
	CHECK_STR(key, "p256");
	CHECK(at->valuedouble > nb->valuedouble && at->valuedouble < na->valuedouble);
	CHECK(strcmp(rule, "lifetime") == 0 || strcmp(rule, "ari") == 0);
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ren, "asked_ca")));
	CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c, "last_error")));
	if (test_failed_now)
		fprintf(stderr, "%s\n", out);
	cJSON_Delete(j);
	/* The text form names it too. */
	snprintf(args, sizeof(args), "--storage %s status", env.store);
	CHECK_OK(autotls("", args));
	CHECK(strstr(out, SHIM_NAME) != NULL && strstr(out, "serial:") != NULL && strstr(out, "renewal:") != NULL);
}

static void check_exit_codes_at_the_thresholds(void)
{
	char args[600];
	/* 600 s of validity, a few seconds used. */
	snprintf(args, sizeof(args), "--storage %s check --warn-seconds 60 --crit-seconds 30", env.store);
	CHECK_INT(autotls("", args), ==, 0);
	CHECK(strncmp(out, "AUTOTLS OK: " SHIM_NAME " ends in", 28) == 0);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
	fprintf(stderr, "  %s", out);
	snprintf(args, sizeof(args), "--storage %s check --warn-seconds 3600 --crit-seconds 30", env.store);
	CHECK_INT(autotls("", args), ==, 1);
	CHECK(strncmp(out, "AUTOTLS WARNING: ", 17) == 0);
	snprintf(args, sizeof(args), "--storage %s check --warn-seconds 7200 --crit-seconds 3600", env.store);
	CHECK_INT(autotls("", args), ==, 2);
	CHECK(strncmp(out, "AUTOTLS CRITICAL: ", 18) == 0);
	/* The defaults (14 and 7 days) against a 600 s certificate: critical. */
	snprintf(args, sizeof(args), "--storage %s check", env.store);
	CHECK_INT(autotls("", args), ==, 2);
	/* The server's own settings: its name is covered; another name is not. */
	snprintf(args, sizeof(args), "--storage %s check --warn-seconds 60 --crit-seconds 30", env.store);
	CHECK_INT(autotls("AUTOTLS_DOMAINS=" SHIM_NAME " ", args), ==, 0);
	CHECK_INT(autotls("AUTOTLS_DOMAINS=other.example.test ", args), ==, 2);
	CHECK(strstr(out, "no certificate for other.example.test") != NULL);
	/* A wrong command line is UNKNOWN to a monitor. */
	snprintf(args, sizeof(args), "--storage %s check --warn-days x", env.store);
	CHECK_INT(autotls("", args), ==, 3);
}

static void check_unknown_when_the_store_cannot_be_read(void)
{
	char args[2000], missing[400], copy[400];
	snprintf(missing, sizeof(missing), "%s/no-store", env.dir);
	snprintf(args, sizeof(args), "--storage %s check", missing);
	CHECK_INT(autotls("", args), ==, 3);
	CHECK(strncmp(out, "AUTOTLS UNKNOWN: cannot read the store ", 39) == 0);
	snprintf(args, sizeof(args), "--storage %s status", missing);
	CHECK_INT(autotls("", args), ==, 1);
	CHECK(access(missing, F_OK) != 0); /* looking made no store */
	/* A file where the store should be. */
	snprintf(args, sizeof(args), "--storage %s check", env.ca_roots);
	CHECK_INT(autotls("", args), ==, 3);
	CHECK(strstr(out, "not a folder") != NULL);
	/* A user who cannot enter the store (0700, root's): a copy of the command they can run, as nobody. */
	snprintf(copy, sizeof(copy), "%s/autotls-copy", env.dir);
	REQUIRE(harness_copy_file(cli, copy, 0755) == 0);
	snprintf(args, sizeof(args),
		 "setpriv --reuid=nobody --regid=nogroup --clear-groups env AUTOTLS_CA=%s %s --storage %s check",
		 env.p.directory_url, copy, env.store);
	CHECK_INT(harness_command(args, out, sizeof(out)), ==, 3);
	CHECK(strstr(out, "Permission denied") != NULL);
	fprintf(stderr, "  as nobody: %s", out);
}

int main(void)
{
	RUN(server_gets_a_certificate);
	if (test_failed_total == 0) {
		RUN(status_json_matches_the_handshake);
		RUN(check_exit_codes_at_the_thresholds);
		RUN(check_unknown_when_the_store_cannot_be_read);
	}
	shim_env_stop(&env);
	return TEST_EXIT();
}
