/*
 * Node.js https.createServer under the preload (issue 12, acceptance 5): what this host's node does, proven.
 *
 * The preload reaches a server through the dynamic linker: it interposes SSL_CTX_new[_ex] between the server
 * and the system's libssl.so.3. The nodejs installed here (NodeSource's build, node_shared_openssl false) carries
 * OpenSSL inside its own executable: no libssl.so.3 is mapped, the executable defines SSL_CTX_new itself (it
 * exports it for native addons), and its own calls bind inside the executable, never through the preload. So
 * the test proves the reason it cannot be covered: with the full settings and a CA, node under the preload maps
 * libautotls.so but no libssl.so; the shim never hooks a server context (no "hooked server SSL_CTX" line); a
 * client asking for the managed name gets node's own certificate, which does not verify against the CA's root; the CA
 * sees no order. Debian's own nodejs package is built against the system's libssl3 (--shared-openssl); it
 * is not installed here and is not covered by this test.
 */
#include "tests/harness/files.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/spawn.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE "/usr/bin/node"
#define START_TIMEOUT_MS 15000
#define SETTLE_MS 1500

static struct shim_env env;
static pid_t node_pid;
static int prepared, started;
static char node_out[360], placeholder_serial[80];

static void node_starts(void)
{
	char script[360], cert[360], key[360], js[2048];

	REQUIRE(prepared);
	snprintf(cert, sizeof(cert), "%s/node-cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/node-key.pem", env.dir);
	snprintf(script, sizeof(script), "%s/server.js", env.dir);
	snprintf(node_out, sizeof(node_out), "%s/node.out", env.dir);
	REQUIRE(harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, placeholder_serial, sizeof(placeholder_serial)) ==
		0);
	snprintf(js, sizeof(js),
		 "const https = require('https'), fs = require('fs');\n"
		 "console.log('openssl ' + process.versions.openssl + ' shared ' +\n"
		 "            process.config.variables.node_shared_openssl);\n"
		 "https.createServer({key: fs.readFileSync('%s'), cert: fs.readFileSync('%s')},\n"
		 "                   (req, res) => res.end('node\\n')).listen(%d, '127.0.0.1');\n",
		 key, cert, env.port);
	FILE *f = fopen(script, "w");
	REQUIRE(f != NULL);
	fputs(js, f);
	fclose(f);
	char *argv[] = {NODE, script, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = env.envp,
		.out_path = node_out,
		.own_group = 1,
		.die_with_us = 1,
	};
	REQUIRE(harness_spawn(&o, &node_pid) == 0);
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(env.port) && harness_now_ms() - t0 < START_TIMEOUT_MS)
		harness_sleep_ms(50);
	started = harness_tcp_connects(env.port);
	CHECK(started);
}

/* Its own OpenSSL: the preload is mapped, no libssl.so is, and the executable defines SSL_CTX_new. */
static void own_openssl_proven(void)
{
	char path[64];

	REQUIRE(started);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)node_pid);
	char *maps = harness_read_file(path, NULL);
	REQUIRE(maps != NULL);
	CHECK(strstr(maps, "libautotls.so") != NULL);
	CHECK(strstr(maps, "libssl.so") == NULL);
	free(maps);
	char *out = harness_read_file(node_out, NULL);
	CHECK(out != NULL && strstr(out, "shared false") != NULL);
	if (out != NULL)
		fprintf(stderr, "  node says: %.*s\n", (int)strcspn(out, "\n"), out);
	free(out);
	/* The symbol the preload would interpose, defined (T) in node's own executable. */
	CHECK_INT(system("nm -D " NODE " | grep -q -w 'T SSL_CTX_new'"), ==, 0);
}

/* So nothing of ours runs in it: its own certificate for the managed name, no hook, no manager, no order. */
static void node_keeps_its_certificate(void)
{
	struct tls_client_result r;

	REQUIRE(started);
	harness_sleep_ms(SETTLE_MS); /* what a manager would need to order and publish */
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.subject, "/CN=" SERVER_PLACEHOLDER_CN);
	CHECK_STR(r.serial, placeholder_serial);
	tls_verify_quiet = 1;
	CHECK(tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, NULL) != 0);
	tls_verify_quiet = 0;
	CHECK(harness_file_count_lines(env.log, "hooked server SSL_CTX") <= 0);
	CHECK_INT(pebble_count_orders(&env.p), ==, 0);
}

int main(void)
{
	shim_env_dir_tag = "reach-node";
	prepared = shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_dir_tag = NULL;
	RUN(node_starts);
	RUN(own_openssl_proven);
	RUN(node_keeps_its_certificate);
	if (test_failed_total)
		harness_print_tail("node", node_out, 2000);
	if (node_pid > 0)
		harness_stop_child(node_pid, SIGTERM, 3000, 1);
	return shim_env_exit(&env);
}
