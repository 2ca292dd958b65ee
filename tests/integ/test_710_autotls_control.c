/*
 * The control channel (issue 13, acceptance 2, 4 and 8) against nginx under the shim as it normally runs: a root
 * master, its manager process and two workers as www-data.
 *  - `autotls status --json` lists the managed name with the issuer, serial and notAfter the verified handshake
 *    shows, the next renewal, and the running server: the leader serves that serial and both workers (and the
 *    master) serve the newest certificate.
 *  - `autotls renew` (not due: the serial is kept) and `autotls renew --force NAME`: a new serial within
 *    seconds, which status shows every worker serving and every handshake gets.
 *  - `autotls revoke NAME --reason keyCompromise`: Pebble's management interface reports the old serial revoked,
 *    and a new serial is served.
 *  - as nobody: the store's folder keeps it out (exit 4); with the folder and the socket opened up to everyone
 *    (a mistake the manager must survive), the manager's own peer check refuses it with one line and logs it;
 *    nothing is renewed either way. A name the server does not manage is refused (exit 1).
 */
#include "tests/harness/command.h"
#include "tests/harness/fetch.h"
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
#include <sys/stat.h>
#include <unistd.h>

static struct shim_env env;
static struct tls_client_result seen;
static char cli[PATH_MAX], out[32768];

/* `autotls --storage STORE ARGS` with the server's CA settings; stderr joins stdout. */
static int autotls(const char *args)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "env AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s %s --storage %s %s 2>&1", env.p.directory_url,
		 env.ca_roots, cli, env.store, args);
	return harness_command(cmd, out, sizeof(out));
}

/* The serial a verified handshake shows now, into s. */
static int served_serial(char *s, size_t size)
{
	struct tls_client_result r;
	if (shim_try_verified(&env, SHIM_NAME, NULL, 0, &r) != 0)
		return -1;
	snprintf(s, size, "%s", r.serial);
	return 0;
}

/* `status --json`'s server object checked: the leader serves serial, and every listed worker (two) serves the
 * newest certificate. Returns the number of workers serving the newest. */
static int workers_serving(const char *serial)
{
	if (autotls("status --json") != 0)
		return -1;
	cJSON *j = cJSON_Parse(out);
	const cJSON *srv = cJSON_GetObjectItemCaseSensitive(j, "server"), *p;
	int n = 0;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(srv, "running")) ||
	    strcasecmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(srv, "serial")) ?: "", serial) != 0) {
		cJSON_Delete(j);
		return -1;
	}
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(srv, "processes"))
	{
		const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "role"));
		if (role && strcmp(role, "worker") == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "serving_newest")))
			n++;
	}
	cJSON_Delete(j);
	return n;
}

/* Every one of 20 handshakes (nginx hands them to both workers) shows serial. */
static int every_handshake_shows(const char *serial)
{
	for (int i = 0; i < 20; i++) {
		char s[128];
		if (served_serial(s, sizeof(s)) != 0 || strcasecmp(s, serial) != 0)
			return 0;
	}
	return 1;
}

static void server_gets_a_certificate(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	shim_env_validity_s = 600;
	int started = shim_env_start(&env, SERVER_NGINX) == 0;
	shim_env_validity_s = 0;
	REQUIRE(started);
	CHECK(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	CHECK_OK(shim_try_verified(&env, SHIM_NAME, NULL, 0, &seen));
	fprintf(stderr, "  the client sees serial %s\n", seen.serial);
	if (test_failed_now)
		shim_env_dump(&env);
}

static void status_lists_the_processes(void)
{
	CHECK_OK(autotls("status --json"));
	cJSON *j = cJSON_Parse(out);
	REQUIRE(j != NULL);
	const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "certificates"), 0);
	const char *serial = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "serial"));
	const cJSON *na = cJSON_GetObjectItemCaseSensitive(c, "not_after");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "renewal"), "at");
	REQUIRE(serial && cJSON_IsNumber(na) && cJSON_IsNumber(at));
	CHECK(strcasecmp(serial, seen.serial) == 0);
	CHECK_INT((long long)na->valuedouble, ==, seen.not_after);
	const cJSON *srv = cJSON_GetObjectItemCaseSensitive(j, "server"), *p;
	CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(srv, "running")));
	CHECK(strcasecmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(srv, "serial")) ?: "", seen.serial) == 0);
	const cJSON *ren = cJSON_GetObjectItemCaseSensitive(srv, "renew_at");
	CHECK(cJSON_IsNumber(ren) && ren->valuedouble > time(NULL) && ren->valuedouble < na->valuedouble);
	int workers = 0, masters = 0, managers = 0;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(srv, "processes"))
	{
		const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "role")) ?: "";
		int newest = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "serving_newest"));
		workers += strcmp(role, "worker") == 0 && newest;
		masters += strcmp(role, "master") == 0 && newest;
		managers += strcmp(role, "manager") == 0;
	}
	CHECK_INT(workers, ==, 2);
	CHECK_INT(masters, ==, 1);
	CHECK_INT(managers, ==, 1);
	if (test_failed_now)
		fprintf(stderr, "%s\n", out);
	cJSON_Delete(j);
	CHECK_OK(autotls("status"));
	CHECK(strstr(out, "running server") != NULL && strstr(out, "serves the newest") != NULL);
}

static void renew_force_serves_a_new_serial(void)
{
	char before[128], now[128];
	REQUIRE(served_serial(before, sizeof(before)) == 0);
	/* Not due (600 s, a few used): kept. */
	CHECK_INT(autotls("renew"), ==, 0);
	CHECK(strcasestr(out, before) != NULL && strstr(out, "not due") != NULL);
	fprintf(stderr, "  renew: %s", out);
	long t0 = harness_now_ms();
	CHECK_INT(autotls("renew --force " SHIM_NAME), ==, 0);
	long took = harness_now_ms() - t0;
	fprintf(stderr, "  renew --force (%ld ms): %s", took, out);
	REQUIRE(strncmp(out, "serving serial ", 15) == 0);
	snprintf(now, sizeof(now), "%.*s", (int)strcspn(out + 15, " \n"), out + 15);
	CHECK(strcasecmp(now, before) != 0);
	CHECK(took < 15000);
	CHECK_INT(workers_serving(now), ==, 2);
	CHECK(every_handshake_shows(now));
	if (test_failed_now)
		shim_env_dump(&env);
}

static void revoke_replaces_it(void)
{
	char before[128], now[128], url[512];
	REQUIRE(served_serial(before, sizeof(before)) == 0);
	CHECK_INT(autotls("revoke " SHIM_NAME " --reason keyCompromise"), ==, 0);
	fprintf(stderr, "  revoke: %s", out);
	char *line = strstr(out, "serving serial ");
	REQUIRE(strstr(out, "revoked serial ") != NULL && line != NULL);
	CHECK(strcasestr(out, before) != NULL);
	snprintf(now, sizeof(now), "%.*s", (int)strcspn(line + 15, " \n"), line + 15);
	CHECK(strcasecmp(now, before) != 0);
	/* Pebble's word on the old serial. */
	long status = 0;
	char *body = NULL;
	snprintf(url, sizeof(url), "%s/cert-status-by-serial/%s", env.p.mgmt_url, before);
	CHECK(harness_fetch(&status, &body, NULL, "GET", url, env.p.api_root_file, NULL, 5000) == 0);
	CHECK_INT(status, ==, 200);
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "Status")) ?: "", "Revoked");
	fprintf(stderr, "  Pebble: %s\n", body ? body : "(nothing)");
	cJSON_Delete(j);
	free(body);
	CHECK_INT(workers_serving(now), ==, 2);
	CHECK(every_handshake_shows(now));
	if (test_failed_now)
		shim_env_dump(&env);
}

static void others_are_refused(void)
{
	char before[128], copy[400], cmd[3 * PATH_MAX], sock[600], run[500];
	REQUIRE(served_serial(before, sizeof(before)) == 0);
	CHECK_INT(autotls("renew --force other.example.test"), ==, 1);
	CHECK(strstr(out, "not a name this server manages") != NULL);
	snprintf(copy, sizeof(copy), "%s/autotls-copy", env.dir);
	REQUIRE(harness_copy_file(cli, copy, 0755) == 0);
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid=nobody --regid=nogroup --clear-groups env AUTOTLS_CA=%s %s --storage %s renew --force "
		 "2>&1",
		 env.p.directory_url, copy, env.store);
	/* The store's folder (0700) keeps nobody out. */
	CHECK_INT(harness_command(cmd, out, sizeof(out)), ==, 4);
	CHECK(strstr(out, "refused") != NULL);
	fprintf(stderr, "  as nobody: %s", out);
	/* Opened up by mistake: the manager's peer check still refuses, with its line, and logs it. */
	snprintf(run, sizeof(run), "%s/run", env.store);
	snprintf(sock, sizeof(sock), "%s/run/control.sock", env.store);
	REQUIRE(chmod(env.store, 0711) == 0 && chmod(run, 0711) == 0 && chmod(sock, 0666) == 0);
	CHECK_INT(harness_command(cmd, out, sizeof(out)), ==, 4);
	CHECK(strstr(out, "refused: uid 65534 is neither root nor the server's user") != NULL);
	fprintf(stderr, "  as nobody, socket open: %s", out);
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid=nobody --regid=nogroup --clear-groups env AUTOTLS_CA=%s %s --storage %s revoke %s "
		 "2>&1",
		 env.p.directory_url, copy, env.store, SHIM_NAME);
	CHECK_INT(harness_command(cmd, out, sizeof(out)), ==, 4);
	CHECK(chmod(sock, 0600) == 0 && chmod(run, 0700) == 0 && chmod(env.store, 0700) == 0);
	CHECK_INT(harness_file_count_lines(env.log, "control channel: refused pid"), ==, 2);
	/* Nothing was done. */
	char now[128];
	sleep(1);
	REQUIRE(served_serial(now, sizeof(now)) == 0);
	CHECK_STR(now, before);
	if (test_failed_now)
		shim_env_dump(&env);
}

int main(void)
{
	RUN(server_gets_a_certificate);
	if (test_failed_total == 0) {
		RUN(status_lists_the_processes);
		RUN(renew_force_serves_a_new_serial);
		RUN(revoke_replaces_it);
		RUN(others_are_refused);
	}
	return shim_env_exit(&env);
}
