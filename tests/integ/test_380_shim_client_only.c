/*
 * A client-only process under the shim is left alone: curl (libcurl, TLS_client_method) and a python3 client
 * (ssl.create_default_context, PROTOCOL_TLS_CLIENT) run with LD_PRELOAD=libautotls.so and AUTOTLS_DOMAINS set
 * to the managed name against an `openssl s_server` (not under the shim) whose self-signed placeholder they
 * trust through --cacert / cafile. Both succeed, print exactly what they print without the shim, and the
 * shim's log shows no "hooked server SSL_CTX" (a client makes no server context, so the manager never loads).
 * AUTOTLS_CA names a port nothing listens on: nothing here may reach a CA.
 */
#include "tests/harness/files.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct server srv;
static char dir[256], lib[PATH_MAX], log_path[300], env_prefix[PATH_MAX + 1024];
static int started;

static const char python_client[] =
	"import socket, ssl, sys\n"
	"port, cafile, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
	"ctx = ssl.create_default_context(cafile=cafile)\n"
	"with socket.create_connection(('127.0.0.1', port), timeout=10) as raw:\n"
	"    with ctx.wrap_socket(raw, server_hostname=name) as s:\n"
	"        cn = dict(x[0] for x in s.getpeercert()['subject'])['commonName']\n"
	"        s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n"
	"        status = s.recv(4096).split(b'\\r\\n')[0].decode()\n"
	"        print(ctx.protocol == ssl.PROTOCOL_TLS_CLIENT, cn, status)\n";

/* Runs cmd (through sh) with the shim's environment in front when shim is set; its stdout (trimmed) in out.
 * The exit status. */
static int run(const char *cmd, int shim, char *out, size_t cap)
{
	char line[PATH_MAX + 4096], outfile[320];
	char *text;
	int st;

	snprintf(outfile, sizeof(outfile), "%s/client.out", dir);
	snprintf(line, sizeof(line), "%s %s > %s 2>> %s/client.err", shim ? env_prefix : "", cmd, outfile, dir);
	st = system(line);
	text = harness_read_file(outfile, NULL);
	snprintf(out, cap, "%s", text ? text : "");
	free(text);
	for (size_t n = strlen(out); n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'); n--)
		out[n - 1] = '\0';
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void curl_is_unaffected(void)
{
	char cmd[2048], plain[512], shimmed[512];

	REQUIRE(started);
	snprintf(cmd, sizeof(cmd),
		 "curl -sS --http1.1 --max-time 10 --cacert %s --resolve %s:%d:127.0.0.1 -o /dev/null "
		 "-w '%%{http_code} %%{ssl_verify_result} %%{http_version}\\n' https://%s:%d/",
		 srv.cert_file, SERVER_PLACEHOLDER_CN, srv.port, SERVER_PLACEHOLDER_CN, srv.port);
	CHECK_INT(run(cmd, 0, plain, sizeof(plain)), ==, 0);
	CHECK_INT(run(cmd, 1, shimmed, sizeof(shimmed)), ==, 0);
	fprintf(stderr, "  curl: without the shim \"%s\", with it \"%s\"\n", plain, shimmed);
	CHECK_STR(plain, "200 0 1"); /* s_server -www answers HTTP/1.0 */
	CHECK_STR(shimmed, plain);
}

static void python_is_unaffected(void)
{
	char script[320], cmd[2048], plain[512], shimmed[512];

	REQUIRE(started);
	snprintf(script, sizeof(script), "%s/client.py", dir);
	REQUIRE(harness_copy_file("/dev/null", script, 0644) == 0);
	FILE *f = fopen(script, "we");
	REQUIRE(f != NULL);
	fputs(python_client, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "python3 %s %d %s %s", script, srv.port, srv.cert_file, SERVER_PLACEHOLDER_CN);
	CHECK_INT(run(cmd, 0, plain, sizeof(plain)), ==, 0);
	CHECK_INT(run(cmd, 1, shimmed, sizeof(shimmed)), ==, 0);
	fprintf(stderr, "  python: without the shim \"%s\", with it \"%s\"\n", plain, shimmed);
	CHECK(strncmp(plain, "True " SERVER_PLACEHOLDER_CN " HTTP/1.0 200", 10 + sizeof(SERVER_PLACEHOLDER_CN)) == 0);
	CHECK_STR(shimmed, plain);
}

static void no_server_context_hooked(void)
{
	REQUIRE(started);
	char *text = harness_read_file(log_path, NULL);
	/* The log may well not exist: a client-only process has nothing to say. */
	CHECK(text == NULL || strstr(text, "hooked server SSL_CTX") == NULL);
	if (text != NULL && strstr(text, "hooked server SSL_CTX") != NULL)
		fprintf(stderr, "  --- %s ---\n%s\n", log_path, text);
	free(text);
	/* Nor did anything create the store. */
	char store[300];
	snprintf(store, sizeof(store), "%s/store", dir);
	CHECK(access(store, F_OK) != 0);
}

int main(void)
{
	harness_ignore_sigpipe();
	snprintf(dir, sizeof(dir), "/tmp/autotls-shim-client-XXXXXX");
	started = mkdtemp(dir) != NULL && harness_shim_lib_path(lib, sizeof(lib)) == 0;
	if (started) {
		snprintf(log_path, sizeof(log_path), "%s/autotls.log", dir);
		snprintf(env_prefix, sizeof(env_prefix),
			 "env LD_PRELOAD=%s AUTOTLS_DOMAINS=%s AUTOTLS_CA=https://127.0.0.1:1/dir AUTOTLS_STORAGE=%s/store "
			 "AUTOTLS_LOG=%s AUTOTLS_LOG_LEVEL=debug",
			 lib, SHIM_NAME, dir, log_path);
		started = server_start(&srv, SERVER_S_SERVER, dir, harness_free_port(), NULL) == 0;
	}
	RUN(curl_is_unaffected);
	RUN(python_is_unaffected);
	RUN(no_server_context_hooked);
	if (test_failed_total) {
		server_print_logs(&srv);
		char err[320];
		snprintf(err, sizeof(err), "%s/client.err", dir);
		char *text = harness_read_file(err, NULL);
		if (text)
			fprintf(stderr, "  --- %s ---\n%s\n", err, text);
		free(text);
	}
	server_stop(&srv);
	if (dir[0] && !getenv("AUTOTLS_TEST_KEEP"))
		harness_remove_tree(dir);
	return TEST_EXIT();
}
