/*
 * `autotls import` of what other ACME clients leave, both run against the test's Pebble (40-second
 * certificates): Debian's lego (its .lego/certificates/NAME.crt bundle and NAME.key) and certbot (its
 * live/NAME/fullchain.pem and privkey.pem). After `autotls import --lego`, openssl s_server under the preload
 * serves lego's certificate (the same serial) at once, and Pebble sees no new order; at the certificate's
 * renewal point (half its lifetime) the manager renews it through ACME: a new serial, one more order. The
 * certbot import lands as a record the store's reader lists with certbot's serial. A key that does not match and
 * a chain that does not hang together are refused and write nothing.
 */
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
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

#define VALIDITY_S 40

static struct shim_env env;
static char cli[PATH_MAX], out[32768], lego_serial[80], certbot_serial[80];
static int prepared;

/* Runs cmd with the server's CA settings in front. */
static int with_ca(const char *extra, const char *cmd)
{
	char line[4 * PATH_MAX];
	snprintf(line, sizeof(line), "env AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s %s %s", env.p.directory_url,
		 env.ca_roots, extra, cmd);
	return harness_command(line, out, sizeof(out));
}

/* The serial of the first certificate in a PEM file, upper-case hex as the client shows it. */
static int file_serial(const char *path, char *serial, size_t size)
{
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -serial -in %s", path);
	if (harness_command(cmd, out, sizeof(out)) != 0 || strncmp(out, "serial=", 7) != 0)
		return -1;
	snprintf(serial, size, "%.79s", out + 7);
	serial[strcspn(serial, "\n")] = '\0';
	return 0;
}

static int same_serial(const char *a, const char *b)
{
	while (*a == '0')
		a++;
	while (*b == '0')
		b++;
	return strcasecmp(a, b) == 0;
}

static void prepare(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	shim_env_validity_s = VALIDITY_S;
	prepared = shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	REQUIRE(prepared);
}

static void lego_and_certbot_against_pebble(void)
{
	char cmd[4 * PATH_MAX], path[2 * PATH_MAX];
	/* lego: HTTP-01 on the port Pebble validates (no server runs there yet). */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && LEGO_CA_CERTIFICATES=%s timeout 60 lego --accept-tos --email ops@example.test --server %s "
		 "--domains %s --http --http.port 127.0.0.1:%d --path %s/.lego run >%s/lego.out 2>&1",
		 env.dir, env.p.api_root_file, env.p.directory_url, SHIM_NAME, env.p.http_port, env.dir, env.dir);
	int rc = harness_command(cmd, out, sizeof(out));
	snprintf(path, sizeof(path), "%s/lego.out", env.dir);
	if (rc != 0)
		harness_print_tail("lego", path, 3000);
	CHECK_INT(rc, ==, 0);
	snprintf(path, sizeof(path), "%s/.lego/certificates/%s.crt", env.dir, SHIM_NAME);
	CHECK_OK(file_serial(path, lego_serial, sizeof(lego_serial)));
	/* certbot: standalone on the same port, its folders under ours. */
	snprintf(cmd, sizeof(cmd),
		 "REQUESTS_CA_BUNDLE=%s timeout 90 certbot certonly --standalone --non-interactive --agree-tos "
		 "-m ops@example.test --server %s --http-01-port %d --http-01-address 127.0.0.1 -d c.example.test "
		 "--config-dir %s/le --work-dir %s/le-work --logs-dir %s/le-logs >%s/certbot.out 2>&1",
		 env.p.api_root_file, env.p.directory_url, env.p.http_port, env.dir, env.dir, env.dir, env.dir);
	rc = harness_command(cmd, out, sizeof(out));
	snprintf(path, sizeof(path), "%s/certbot.out", env.dir);
	if (rc != 0)
		harness_print_tail("certbot", path, 3000);
	CHECK_INT(rc, ==, 0);
	snprintf(path, sizeof(path), "%s/le/live/c.example.test/fullchain.pem", env.dir);
	CHECK_OK(file_serial(path, certbot_serial, sizeof(certbot_serial)));
	fprintf(stderr, "  lego's serial %s, certbot's %s\n", lego_serial, certbot_serial);
}

static void refused_imports_write_nothing(void)
{
	char cmd[4 * PATH_MAX];
	/* lego's certificate with certbot's key; lego's leaf with itself as its chain. */
	snprintf(cmd, sizeof(cmd), "%s --storage %s/other-store import %s/.lego/certificates/%s.crt "
				   "%s/le/live/c.example.test/privkey.pem", cli, env.dir, env.dir, SHIM_NAME, env.dir);
	CHECK_INT(with_ca("", cmd), ==, 1);
	snprintf(cmd, sizeof(cmd), "%s --storage %s/other-store import %s/le/live/c.example.test/cert.pem "
				   "%s/le/live/c.example.test/privkey.pem --chain %s/le/live/c.example.test/cert.pem",
		 cli, env.dir, env.dir, env.dir, env.dir);
	CHECK_INT(with_ca("", cmd), ==, 1);
	snprintf(cmd, sizeof(cmd), "find %s/other-store -name record | wc -l", env.dir);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	CHECK_INT(atoi(out), ==, 0);
}

static void imports_land_in_the_store(void)
{
	char cmd[4 * PATH_MAX], dom[64];
	snprintf(dom, sizeof(dom), "AUTOTLS_DOMAINS=%s", SHIM_NAME);
	snprintf(cmd, sizeof(cmd), "%s --storage %s import --lego %s/.lego", cli, env.store, env.dir);
	CHECK_INT(with_ca(dom, cmd), ==, 0);
	fprintf(stderr, "  %s", out);
	/* certbot's, without AUTOTLS_DOMAINS: under its own name */
	snprintf(cmd, sizeof(cmd), "%s --storage %s import --certbot %s/le", cli, env.store, env.dir);
	CHECK_INT(with_ca("", cmd), ==, 0);
	fprintf(stderr, "  %s", out);
	snprintf(cmd, sizeof(cmd), "%s --storage %s status --json", cli, env.store);
	CHECK_OK(with_ca("", cmd));
	cJSON *j = cJSON_Parse(out);
	REQUIRE(j != NULL);
	const cJSON *c;
	int seen_lego = 0, seen_certbot = 0;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(j, "certificates"))
	{
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
		const char *serial = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "serial"));
		if (name && serial && strcmp(name, SHIM_NAME) == 0)
			seen_lego = same_serial(serial, lego_serial);
		if (name && serial && strcmp(name, "c.example.test") == 0)
			seen_certbot = same_serial(serial, certbot_serial);
	}
	cJSON_Delete(j);
	CHECK(seen_lego);
	CHECK(seen_certbot);
	/* the key file is the store's own: 0600 */
	snprintf(cmd, sizeof(cmd), "find %s/certificates -name record -perm 0600 | wc -l", env.store);
	CHECK_OK(harness_command(cmd, out, sizeof(out)));
	CHECK_INT(atoi(out), ==, 2);
}

static void served_at_once_then_renewed_through_acme(void)
{
	struct tls_client_result seen;
	char renewed[80];
	int orders = pebble_count_orders(&env.p);
	CHECK_INT(orders, ==, 2); /* lego's and certbot's */
	REQUIRE(shim_env_server_start(&env) == 0);
	CHECK(shim_wait_verified(&env, SHIM_NAME, 10000) >= 0);
	CHECK_OK(shim_try_verified(&env, SHIM_NAME, NULL, 0, &seen));
	fprintf(stderr, "  served serial %s\n", seen.serial);
	CHECK(same_serial(seen.serial, lego_serial));
	CHECK_INT(pebble_count_orders(&env.p), ==, orders);
	/* The renewal point of a 40-second certificate is 20 s after its notBefore. */
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, seen.serial, (VALIDITY_S + 20) * 1000L, renewed,
				   sizeof(renewed));
	CHECK(ms >= 0);
	fprintf(stderr, "  renewed after %ld ms: serial %s\n", ms, renewed);
	CHECK_INT(pebble_count_orders(&env.p), >, orders);
}

int main(void)
{
	RUN(prepare);
	if (test_failed_total == 0)
		RUN(lego_and_certbot_against_pebble);
	if (test_failed_total == 0) {
		RUN(refused_imports_write_nothing);
		RUN(imports_land_in_the_store);
	}
	if (test_failed_total == 0)
		RUN(served_at_once_then_renewed_through_acme);
	return prepared ? shim_env_exit(&env) : TEST_EXIT();
}
