/*
 * More of the manager's takeover (issue 9, acceptance 2; see shim_takeover.h):
 * - kill -9 in the middle of an issuance (the TLS-ALPN-01 challenge just published, under python's threaded
 *   server): within 10 s a new manager leads and obtains the certificate (the dead one's per-name store lock
 *   does not hold it back, though the dead manager stays an unreaped zombie of ours until the end), which
 *   then renews while a client loops with no failed handshake;
 * - a host that closes every descriptor above 2 once it has started (a python threaded ssl server that moves
 *   its listener to fd 0 and calls os.closerange(3, ...), the shim's region, lifeline and log included): the
 *   manager stays (it logs why once), keeps renewing, and after a kill -9 a new manager takes over (the host
 *   still maps the region; as root it reopens it), keeps renewing, and exits when the host stops.
 */
#include "tests/harness/placeholder.h"
#include "tests/harness/spawn.h"
#include "tests/harness/shim_takeover.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/procfs.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LIMIT_MS 55000

static void killed_mid_issuance(void)
{
	static const char *const tls_alpn_only = "AUTOTLS_CHALLENGES=tls-alpn-01";
	struct shim_env env;
	struct takeover t;
	pid_t pids[8];

	memset(&t, 0, sizeof(t));
	shim_env_extra[0] = tls_alpn_only;
	int started = shim_env_prepare_fault(&env, SERVER_PYTHON, &takeover_pebble) == 0 && shim_env_server_start(&env) == 0;
	shim_env_extra[0] = NULL;
	CHECK(started);
	if (!started)
		goto out;
	/* The challenge is published: the order exists, the CA is about to validate (or validating). */
	long ms = shim_log_wait(&env, "tls-alpn-01 challenge published", NULL, 1, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	long killed_at = harness_now_ms();
	if (ms < 0 || takeover_kill(&env, &t) <= 0)
		goto out;
	if (shim_log_count(&env, "obtained a certificate", NULL) > 0)
		fprintf(stderr, "  (the certificate was obtained just before the kill)\n");
	long verified = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(verified >= 0);
	while (t.takeover_ms == 0 && harness_now_ms() - killed_at < 2 * TAKEOVER_LIMIT_MS) {
		takeover_watch(&env, &t, killed_at);
		harness_sleep_ms(50);
	}
	fprintf(stderr, "  first certificate %ld ms after the kill\n", harness_now_ms() - killed_at);
	/* The killed manager's pid is a zombie (ours) all along: it must not count as alive. */
	struct procfs_stat st;
	CHECK(procfs_stat(t.killed, &st) != 0 || st.state == 'Z');
	/* Then it renews (twice the certificate: the first and a renewal, due half-way through its lifetime) with no
	 * failure over one whole lifetime. */
	struct takeover loop;
	memset(&loop, 0, sizeof(loop));
	takeover_loop(&env, LIMIT_MS, 0, TAKEOVER_VALIDITY_S * 1000L, &loop);
	t.serials_after = loop.serials_before;
	t.failures = loop.failures;
	takeover_check(&env, &t, 2);
	CHECK_INT(procfs_find_managers(env.store, pids, 8), ==, 1);
	takeover_stop_check(&env);
out:
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
	if (t.killed > 0)
		waitpid(t.killed, NULL, 0);
}

/* A python threaded ssl server that closes every descriptor above 2 once it listens. */
static const char closing_host[] =
	"import http.server, os, socket, ssl, sys\n"
	"port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"ctx.load_cert_chain(cert, key)\n"
	"class Handler(http.server.BaseHTTPRequestHandler):\n"
	"    def do_GET(self):\n"
	"        self.send_response(200)\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b'ok\\n')\n"
	"    def log_message(self, *args):\n"
	"        pass\n"
	"class Server(http.server.ThreadingHTTPServer):\n"
	"    daemon_threads = True\n"
	"    def handle_error(self, request, client_address):\n"
	"        pass\n"
	"httpd = Server(('127.0.0.1', port), Handler)\n"
	"# As a daemon helper would: keep the listener (on fd 0) and close everything else above 2.\n"
	"os.dup2(httpd.socket.fileno(), 0)\n"
	"os.closerange(3, 65536)\n"
	"httpd.socket = ctx.wrap_socket(socket.socket(fileno=0), server_side=True, do_handshake_on_connect=False)\n"
	"print('open descriptors:', sorted(int(f) for f in os.listdir('/proc/self/fd')), flush=True)\n"
	"httpd.serve_forever()\n";

static void host_closes_its_descriptors(void)
{
	struct shim_env env;
	struct takeover t;
	char script[320], cert[320], key[320], out[320], port[16];
	pid_t host = 0, first = 0, pids[8];

	memset(&t, 0, sizeof(t));
	int ok = shim_env_prepare_fault(&env, SERVER_PYTHON, &takeover_pebble) == 0;
	CHECK(ok);
	if (!ok)
		goto out;
	snprintf(script, sizeof(script), "%s/closing.py", env.dir);
	snprintf(cert, sizeof(cert), "%s/placeholder-cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/placeholder-key.pem", env.dir);
	snprintf(out, sizeof(out), "%s/python.out", env.dir);
	snprintf(port, sizeof(port), "%d", env.port);
	FILE *f = fopen(script, "w");
	CHECK(f != NULL && fputs(closing_host, f) >= 0);
	if (f)
		fclose(f);
	CHECK_OK(harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, env.srv.serial, sizeof(env.srv.serial)));
	char *argv[] = {"python3", "-u", script, port, cert, key, NULL};
	struct harness_spawn_opts o = {.argv = argv, .extra_env = env.envp, .out_path = out, .die_with_us = 1};
	if (harness_spawn(&o, &host) != 0)
		goto out;
	env.srv.pid = host; /* server_stop stops it (SIGTERM, our child) */
	CHECK(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	first = takeover_manager(&env, 5000);
	CHECK(first > 0);
	/* The lifeline closed with the host's descriptors; the manager saw the tree still there and stayed. */
	CHECK(shim_log_wait(&env, "still maps the region", NULL, 1, 5000) >= 0);
	CHECK_INT(shim_log_count(&env, "the server is gone", NULL), ==, 0);
	/* It keeps renewing (one renewal), then is killed; the next one renews twice. */
	takeover_loop(&env, -1, 2, 2 * LIMIT_MS, &t);
	CHECK(t.killed == first);
	CHECK_INT(t.serials_before, >=, 2);
	takeover_check(&env, &t, 2);
	CHECK_INT(procfs_find_managers(env.store, pids, 8), ==, 1);
	takeover_stop_check(&env);
out:
	if (test_failed_now) {
		char *text = harness_read_file(out, NULL);
		fprintf(stderr, "  --- host output ---\n%s\n", text ? text : "");
		free(text);
		shim_env_dump(&env);
	}
	shim_env_stop(&env);
	if (t.killed > 0)
		waitpid(t.killed, NULL, WNOHANG);
}

int main(void)
{
	RUN(killed_mid_issuance);
	RUN(host_closes_its_descriptors);
	return TEST_EXIT();
}
