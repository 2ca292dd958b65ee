/*
 * Security promises as tests:
 *  - the preload exports only the symbols it interposes (nm -D);
 *  - the TLS-ALPN-01 certificate is served only to a ClientHello that offers exactly "acme-tls/1" for a name
 *    with a pending challenge: a fake CA (tests/tools/holding_ca.py) keeps the authorization pending for ever,
 *    so the shim under `openssl s_server` holds the challenge while every other kind of ClientHello is probed.
 */
#include "tests/harness/certgen.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/tlsverify.h"
#include "tests/harness/files.h"
#include "tests/test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/autotls-sec-XXXXXX";

static const char *build_dir(void)
{
	const char *b = getenv("BUILD");
	return b && *b ? b : "build";
}

static void exports_only_interposed(void)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only %s/libautotls.so | awk '$2 ~ /[TDBRW]/ {print $3}' | sort",
		 build_dir());
	FILE *f = popen(cmd, "r");
	REQUIRE(f != NULL);
	char got[2048] = "", line[256];
	while (fgets(line, sizeof(line), f))
		strncat(got, line, sizeof(got) - strlen(got) - 1);
	pclose(f);
	CHECK_STR(got, "SSL_CTX_callback_ctrl\nSSL_CTX_ctrl\nSSL_CTX_new\nSSL_CTX_new_ex\nSSL_CTX_set_alpn_select_cb\nSSL_CTX_set_cert_cb\n"
		       "SSL_CTX_set_client_hello_cb\nSSL_set_cert_cb\n");
}

static int log_has(const char *path, const char *what)
{
	size_t n = 0;
	char *s = harness_read_file(path, &n);
	int has = s && strstr(s, what) != NULL;
	free(s);
	return has;
}

static void challenge_only_for_exact_offer(void)
{
	char cert[300], key[300], log[300], store[300], lib[PATH_MAX];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	snprintf(cert, sizeof(cert), "%s/ca.pem", dir);
	snprintf(key, sizeof(key), "%s/ca.key", dir);
	snprintf(log, sizeof(log), "%s/autotls.log", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	REQUIRE(harness_shim_lib_path(lib, sizeof(lib)) == 0);
	REQUIRE(harness_cert_make(&x, &k, "holding-ca", "localhost", "127.0.0.1", 0, NULL, NULL, 2) == 0);
	REQUIRE(harness_write_cert_pem(cert, x) == 0 && harness_write_key_pem(key, k) == 0);
	X509_free(x);
	EVP_PKEY_free(k);

	int ca_port = harness_free_port();
	char port_s[16];
	snprintf(port_s, sizeof(port_s), "%d", ca_port);
	pid_t ca = fork();
	REQUIRE(ca >= 0);
	if (ca == 0) {
		execlp("python3", "python3", "tests/tools/holding_ca.py", port_s, cert, key, (char *)NULL);
		_exit(127);
	}
	/* Ready when its port accepts connections. */
	int up = 0;
	for (int i = 0; i < 200 && !up; i++) {
		up = harness_tcp_connects(ca_port);
		if (!up)
			usleep(25 * 1000);
	}
	if (!up) {
		kill(ca, SIGKILL);
		waitpid(ca, NULL, 0);
		REQUIRE(!"the holding CA did not start");
	}

	char e_pre[2 * PATH_MAX + 16], pre[2 * PATH_MAX], e_ca[128], e_roots[320], e_store[320], e_log[320];
	int sanitized = 0;
	REQUIRE(harness_preload_value(pre, sizeof(pre), lib, &sanitized) == 0);
	snprintf(e_pre, sizeof(e_pre), "LD_PRELOAD=%s", pre);
	snprintf(e_ca, sizeof(e_ca), "AUTOTLS_CA=https://127.0.0.1:%d/dir", ca_port);
	snprintf(e_roots, sizeof(e_roots), "AUTOTLS_CA_ROOTS=%s", cert);
	snprintf(e_store, sizeof(e_store), "AUTOTLS_STORAGE=%s", store);
	snprintf(e_log, sizeof(e_log), "AUTOTLS_LOG=%s", log);
	char *envp[] = { e_pre, "AUTOTLS_DOMAINS=a.example.test", e_ca, e_roots, e_store, e_log,
			 "AUTOTLS_LOG_LEVEL=debug", sanitized ? HARNESS_ASAN_OPTIONS : NULL, HARNESS_UBSAN_OPTIONS, NULL };
	struct server srv;
	int port = harness_free_port();
	int started = server_start(&srv, SERVER_S_SERVER, dir, port, envp) == 0;
	CHECK(started);
	int pending = 0;
	for (int i = 0; started && i < 200 && !pending; i++) {
		pending = log_has(log, "tls-alpn-01 challenge published for a.example.test");
		if (!pending)
			usleep(50 * 1000);
	}
	CHECK(pending);
	if (started && pending) {
		struct tls_client_result r;
		static const struct {
			const char *sni, *alpn;
			int challenge;
		} probes[] = {
			{ "a.example.test", "acme-tls/1", 1 },
			{ "A.Example.TEST", "acme-tls/1", 1 },  /* SNI is case-insensitive */
			{ "a.example.test", "acme-tls/1,h2", 0 }, /* not exactly acme-tls/1 */
			{ "a.example.test", "h2,acme-tls/1", 0 },
			{ "a.example.test", "acme-tls/2", 0 },
			{ "a.example.test", NULL, 0 },
			{ "b.example.test", "acme-tls/1", 0 },   /* no pending challenge for that name */
			{ NULL, "acme-tls/1", 0 },               /* no name at all */
		};
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			memset(&r, 0, sizeof(r));
			tls_verify_quiet = 1;
			int rc = tls_client_connect(port, probes[i].sni, probes[i].alpn, 0, NULL, NULL, &r);
			tls_verify_quiet = 0;
			int got = rc == 0 && r.acme_identifier;
			if (got != probes[i].challenge)
				fprintf(stderr, "  probe %zu (sni %s, alpn %s): challenge certificate %s (subject %s, alpn %s)\n",
					i, probes[i].sni ? probes[i].sni : "-", probes[i].alpn ? probes[i].alpn : "-",
					got ? "served" : "not served", r.subject, r.alpn);
			CHECK_INT(got, ==, probes[i].challenge);
			if (probes[i].challenge && rc == 0)
				CHECK_STR(r.alpn, "acme-tls/1");
			/* Whatever the probe, when it is not the challenge the server's own certificate answers. */
			if (!probes[i].challenge && rc == 0)
				CHECK(strstr(r.subject, "placeholder.test") != NULL);
		}
	}
	if (test_failed_now) {
		server_print_logs(&srv);
		size_t n = 0;
		char *l = harness_read_file(log, &n);
		fprintf(stderr, "  --- shim log ---\n%s\n", l ? l : "(none)");
		free(l);
	}
	server_stop(&srv);
	kill(ca, SIGTERM);
	waitpid(ca, NULL, 0);
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	chmod(dir, 0755);
	harness_ignore_sigpipe();
	RUN(exports_only_interposed);
	RUN(challenge_only_for_exact_offer);
	/* The harness's removal, as every other test's: the tree's manager process notices its server is gone
	 * within a second and may still write into the store meanwhile ("rm -rf" then failed the test once). */
	harness_remove_or_keep(dir);
	return TEST_EXIT();
}
