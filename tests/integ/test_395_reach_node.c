/*
 * Node.js https.createServer under the preload (issue 12, acceptance 5 and 6): the host's node proven out of reach,
 * Debian's own nodejs covered.
 *
 * The preload reaches a server through the dynamic linker: it interposes SSL_CTX_new[_ex] between the server
 * and the system's libssl.so.3. The nodejs installed here (NodeSource's build, node_shared_openssl false) carries
 * OpenSSL inside its own executable: no libssl.so.3 is mapped, the executable defines SSL_CTX_new itself (it
 * exports it for native addons), and its own calls bind inside the executable, never through the preload. So
 * the test proves the reason it cannot be covered: with the full settings and a CA, node under the preload maps
 * libautotls.so but no libssl.so; the shim never hooks a server context (no "hooked server SSL_CTX" line); a
 * client asking for the managed name gets node's own certificate, which does not verify against the CA's root;
 * the CA sees no order.
 *
 * Debian 12's own nodejs (18, libnode108 built with --shared-openssl) links the system's libssl.so.3. It is not
 * installed here (it would replace the host's node): scripts/deps-debian-node.sh keeps it apart, unpacked, and
 * the test runs it in a mount namespace of its own with Debian's /usr/share/nodejs (the builtins Debian keeps out
 * of libnode) laid over /usr/share. Under the preload, the same script's https.createServer on the CA's
 * TLS-ALPN-01 port: node maps libssl.so.3 and the shim hooks its context; a client trusting only Pebble's root
 * verifies the managed name; after a renewal (30-second certificates) new connections to the same node process get
 * the new serial; another name keeps node's own certificate; the store's key files are 0600; no log holds a key.
 */
#include "tests/harness/files.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/spawn.h"
#include "tests/harness/tlsverify.h"
#include "tests/harness/store_modes.h"
#include "tests/test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NODE "/usr/bin/node"
#define START_TIMEOUT_MS 15000
#define SETTLE_MS 1500
#define DEBIAN_NODE_DIR "/var/cache/autotls-tests/debian-node"
#define VALIDITY_S 30
#define SERVE_TIMEOUT_MS 20000
#define RENEW_TIMEOUT_MS 40000

static struct shim_env env;
static pid_t node_pid;
static int prepared, started;
static char node_out[360], placeholder_serial[80], script[360];
static int deb_started, deb_served;
static pid_t deb_pid;
static char deb_out[360], deb_serial[80];

static void node_starts(void)
{
	char cert[360], key[360], js[2048];

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

/* Debian's nodejs, unpacked apart (scripts/deps-debian-node.sh), in a mount namespace with its builtins. */
static void debian_node_starts(void)
{
	char cmd[1200], e_libs[200];
	char *extra[24];
	size_t k = 0;

	REQUIRE(prepared);
	if (node_pid > 0)
		harness_stop_child(node_pid, SIGTERM, 3000, 1);
	node_pid = 0;
	if (access(DEBIAN_NODE_DIR "/usr/bin/node", X_OK) != 0) {
		fprintf(stderr, "  no %s/usr/bin/node: run scripts/deps.sh\n", DEBIAN_NODE_DIR);
		REQUIRE(0);
	}
	snprintf(deb_out, sizeof(deb_out), "%s/debian-node.out", env.dir);
	snprintf(e_libs, sizeof(e_libs), "LD_LIBRARY_PATH=%s/usr/lib/x86_64-linux-gnu", DEBIAN_NODE_DIR);
	for (size_t i = 0; env.envp[i] != NULL && k + 2 < sizeof(extra) / sizeof(extra[0]); i++)
		extra[k++] = env.envp[i];
	extra[k++] = e_libs;
	extra[k] = NULL;
	snprintf(cmd, sizeof(cmd),
		 "mount -t overlay overlay -o lowerdir=%s/usr/share:/usr/share /usr/share && exec %s/usr/bin/node %s",
		 DEBIAN_NODE_DIR, DEBIAN_NODE_DIR, script);
	char *argv[] = {"/usr/bin/unshare", "-m", "/bin/sh", "-c", cmd, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = extra,
		.out_path = deb_out,
		.own_group = 1,
		.die_with_us = 1,
	};
	REQUIRE(harness_spawn(&o, &deb_pid) == 0);
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(env.port) && harness_now_ms() - t0 < START_TIMEOUT_MS)
		harness_sleep_ms(50);
	deb_started = harness_tcp_connects(env.port);
	CHECK(deb_started);
	char *out = harness_read_file(deb_out, NULL);
	CHECK(out != NULL && strstr(out, "shared true") != NULL);
	if (out != NULL)
		fprintf(stderr, "  Debian's node says: %.*s\n", (int)strcspn(out, "\n"), out);
	free(out);
}

/* A session that verifies against root_file and, when old is not NULL, shows another serial: ms waited or -1. */
static long wait_verified(const char *old, long timeout_ms, struct tls_client_result *r)
{
	long t0 = harness_now_ms();
	tls_verify_quiet = 1;
	for (;;) {
		memset(r, 0, sizeof(*r));
		if (tls_client_connect(env.port, SHIM_NAME, NULL, 0, env.p.issuing_root_file, NULL, r) == 0 &&
		    (old == NULL || strcmp(r->serial, old) != 0))
			break;
		if (harness_now_ms() - t0 > timeout_ms) {
			tls_verify_quiet = 0;
			return -1;
		}
		harness_sleep_ms(200);
	}
	tls_verify_quiet = 0;
	return harness_now_ms() - t0;
}

static void debian_node_covered(void)
{
	char path[64];
	struct tls_client_result r;

	REQUIRE(deb_started);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)deb_pid);
	char *maps = harness_read_file(path, NULL);
	CHECK(maps != NULL && strstr(maps, "/libssl.so.3") != NULL && strstr(maps, "libautotls.so") != NULL);
	free(maps);
	long ms = wait_verified(NULL, SERVE_TIMEOUT_MS, &r);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  Debian's node: %s verified against Pebble's root %ld ms after it listened\n", SHIM_NAME, ms);
	snprintf(deb_serial, sizeof(deb_serial), "%s", r.serial);
	CHECK(strcmp(deb_serial, placeholder_serial) != 0);
	CHECK(harness_file_count_lines(env.log, "hooked server SSL_CTX") >= 1);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(env.port, SHIM_UNMANAGED, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.serial, placeholder_serial);
	deb_served = 1;
}

static void debian_node_renewed_live(void)
{
	struct tls_client_result r;

	REQUIRE(deb_served);
	long ms = wait_verified(deb_serial, RENEW_TIMEOUT_MS, &r);
	CHECK(ms >= 0);
	if (ms >= 0)
		fprintf(stderr, "  Debian's node: the renewed certificate (serial %s) served %ld ms into the wait\n",
			r.serial, ms);
	CHECK(kill(deb_pid, 0) == 0);
	CHECK_INT(pebble_count_orders(&env.p), >=, 2);
}

static void debian_node_keys_private(void)
{
	REQUIRE(deb_served);
	struct store_modes m;
	CHECK_OK(store_modes_check(env.store, (uid_t)-1, (gid_t)-1, &m));
	CHECK_INT(m.key_files, >=, 2); /* the account key and the certificate record */
	CHECK_INT(m.bad, ==, 0);
	CHECK_INT(harness_file_count_lines(env.log, "PRIVATE KEY"), ==, 0);
	CHECK_INT(harness_file_count_lines(deb_out, "PRIVATE KEY"), ==, 0);
}

int main(void)
{
	shim_env_dir_tag = "reach-node";
	shim_env_validity_s = VALIDITY_S;
	prepared = shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	shim_env_dir_tag = NULL;
	RUN(node_starts);
	RUN(own_openssl_proven);
	RUN(node_keeps_its_certificate);
	RUN(debian_node_starts);
	RUN(debian_node_covered);
	RUN(debian_node_renewed_live);
	RUN(debian_node_keys_private);
	if (test_failed_total) {
		harness_print_tail("node", node_out, 2000);
		harness_print_tail("Debian's node", deb_out, 2000);
		harness_print_tail("shim", env.log, 4000);
	}
	if (node_pid > 0)
		harness_stop_child(node_pid, SIGTERM, 3000, 1);
	if (deb_pid > 0)
		harness_stop_child(deb_pid, SIGTERM, 3000, 1);
	return shim_env_exit(&env);
}
