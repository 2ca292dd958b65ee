/*
 * autotls renew with no server on the store (issue 13): the command orders itself through the engine with
 * HTTP-01 on Pebble's validation port. `renew --force a.example.test` obtains a first certificate and then a
 * second one: exit 0, a new serial printed, the store's record holding that serial and verifying against Pebble's
 * issuing root for the name; without --force on the fresh certificate: kept, exit 0, no new order at Pebble;
 * with AUTOTLS_CHALLENGES=tls-alpn-01 alone: exit 1 and one line naming the fix, no order.
 */
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/records.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define NAME "a.example.test"

static struct pebble p;
static char dir[PATH_MAX], store[PATH_MAX + 16], cli[PATH_MAX], out[8192];

/* Runs `autotls --storage STORE ARGS` with Pebble's settings, extra ("" or "NAME=value ") added, stderr
 * into out as well. */
static int autotls(const char *extra, const char *args)
{
	char cmd[4 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "env AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s AUTOTLS_HTTP_PORT=%d %s%s --storage %s %s 2>&1",
		 p.directory_url, p.api_root_file, p.http_port, extra, cli, store, args);
	int rc = harness_command(cmd, out, sizeof(out));
	fprintf(stderr, "  autotls %s%s -> %d: %s", extra, args, rc, out);
	return rc;
}

/* The serial in the line "renewed NAME: serial ..." of out, into serial (size bytes); 0 or -1. */
static int printed_serial(char *serial, size_t size)
{
	static const char line[] = "renewed " NAME ": serial ";
	const char *s = strstr(out, line);
	if (s == NULL)
		return -1;
	s += sizeof(line) - 1;
	size_t n = strcspn(s, " \n");
	if (n == 0 || n >= size)
		return -1;
	memcpy(serial, s, n);
	serial[n] = '\0';
	return 0;
}

/* The store's record for NAME: its serial into serial, and it verifies against Pebble's issuing root. */
static void record_is(const char *serial)
{
	struct at_cert_record rec = { 0 };
	REQUIRE(harness_record_load_dir(store, p.directory_url, NAME, &rec) == 0);
	CHECK(strcasecmp(rec.info.serial, serial) == 0);
	CHECK_OK(tls_verify_pair(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, p.issuing_root_file, NAME));
	at_cert_record_clear(&rec);
}

static char first[128];

static void setup(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	struct pebble_opts o = { .authz_reuse = 0 };
	REQUIRE(pebble_start(&p, &o) == 0);
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/autotls-715-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(store, sizeof(store), "%s/store", dir);
}

static void force_without_a_server_orders(void)
{
	char second[128];
	int orders = pebble_count_orders(&p);
	/* The first certificate: the store is empty, no server has ever run on it. */
	CHECK_INT(autotls("AUTOTLS_CHALLENGES=http-01 ", "renew --force " NAME), ==, 0);
	CHECK(strstr(out, "renewed " NAME ": serial ") != NULL);
	REQUIRE(printed_serial(first, sizeof(first)) == 0);
	record_is(first);
	/* Then forced again: a new serial, in the store. */
	CHECK_INT(autotls("AUTOTLS_CHALLENGES=http-01 ", "renew --force " NAME), ==, 0);
	REQUIRE(printed_serial(second, sizeof(second)) == 0);
	CHECK(strcasecmp(first, second) != 0);
	CHECK(strstr(out, "not after ") != NULL);
	record_is(second);
	CHECK_INT(pebble_count_orders(&p), ==, orders + 2);
	snprintf(first, sizeof(first), "%s", second);
}

static void not_forced_keeps_a_fresh_certificate(void)
{
	int orders = pebble_count_orders(&p);
	CHECK_INT(autotls("AUTOTLS_CHALLENGES=http-01 ", "renew " NAME), ==, 0);
	CHECK(strstr(out, "kept " NAME ": serial ") != NULL);
	CHECK(strstr(out, "not due") != NULL);
	CHECK_INT(pebble_count_orders(&p), ==, orders);
	record_is(first);
}

static void tls_alpn_only_is_refused_with_the_fix(void)
{
	int orders = pebble_count_orders(&p);
	CHECK_INT(autotls("AUTOTLS_CHALLENGES=tls-alpn-01 ", "renew --force " NAME), ==, 1);
	CHECK(strstr(out, "tls-alpn-01") != NULL && strstr(out, "AUTOTLS_CHALLENGES=http-01") != NULL);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
	CHECK_INT(pebble_count_orders(&p), ==, orders);
	record_is(first);
}

int main(void)
{
	RUN(setup);
	if (test_failed_total == 0) {
		RUN(force_without_a_server_orders);
		RUN(not_forced_keeps_a_fresh_certificate);
		RUN(tls_alpn_only_is_refused_with_the_fix);
	}
	pebble_stop(&p);
	if (dir[0] != '\0')
		harness_remove_or_keep(dir);
	return TEST_EXIT();
}
