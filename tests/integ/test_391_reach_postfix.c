/*
 * Postfix's smtpd with STARTTLS, following the host manager (issue 12, acceptance 1, 6 and 7).
 *
 * Nothing on the host speaks HTTP or answers TLS-ALPN-01: Pebble validates TLS-ALPN-01 on a port where nobody
 * listens, and HTTP-01 on its httpPort, where only the host manager's own responder answers (opened while a
 * challenge is pending). `autotls-manager --host` leads the store with HTTP-01 and issues 30-second
 * certificates. A private Postfix instance (tests/harness/postfix.h: main.cf's import_environment passes
 * LD_PRELOAD and the AUTOTLS_* settings to its daemons) runs smtpd on a loopback port with its own placeholder
 * certificate. smtpd makes its TLS context as root at its first connection; its tree's manager process finds the
 * store's lock held by the host manager and copies the certificate from the store.
 *
 * Checked: an SMTP client that trusts only Pebble's issuing root (EHLO, STARTTLS, the handshake, EHLO again over
 * TLS) verifies a.example.test with the host manager's certificate; after the host manager renews, new sessions
 * get the new serial from the same master (no postfix reload); without SNI and for an unmanaged name smtpd keeps
 * its placeholder; Pebble saw the host manager's orders only; the store's key-holding files are 0600; no log
 * (the host manager's, the shim's, Postfix's maillog) holds a private key.
 */
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/harness/host_manager.h"
#include "tests/harness/postfix.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/store_modes.h"
#include "tests/harness/starttls.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VALIDITY_S 30
#define SERVE_TIMEOUT_MS 10000
#define RENEW_TIMEOUT_MS 40000

static struct shim_env env;
static struct host_manager hm;
static struct postfix pf;
static int prepared, hm_issued, pf_started, served;
static char first_serial[80];
static pid_t master_pid;

/* A session for sni that verifies against root, quietly (a poll makes many). 0 or -1. */
static int smtp_try(const char *sni, const char *root, struct tls_client_result *r)
{
	return starttls_try(STARTTLS_SMTP, pf.port, sni, root, r);
}

/* A mistake in its settings is one line naming the setting and exit status 2 (systemd's Restart=on-failure
 * then shows it in the journal): no names, only TLS-ALPN-01 (which it never answers), a stray argument. */
static void host_manager_refuses_bad_settings(void)
{
	char lib[PATH_MAX], cmd[PATH_MAX + 400], out[2048];
	const char *cases[][2] = {
		{"AUTOTLS_STORAGE=/nonexistent", "AUTOTLS_DOMAINS is not set"},
		{"AUTOTLS_DOMAINS=a.example.test AUTOTLS_STORAGE=/nonexistent AUTOTLS_CHALLENGES=tls-alpn-01",
		 "AUTOTLS_CHALLENGES leaves no challenge"},
	};

	REQUIRE(prepared);
	snprintf(lib, sizeof(lib), "%s", env.lib);
	for (size_t i = 0; i < 2; i++) {
		snprintf(cmd, sizeof(cmd), "env -i %s %s/autotls-manager --host 2>&1", cases[i][0], dirname(lib));
		snprintf(lib, sizeof(lib), "%s", env.lib);
		CHECK_INT(harness_command(cmd, out, sizeof(out)), ==, 2);
		CHECK(strstr(out, cases[i][1]) != NULL);
	}
	snprintf(cmd, sizeof(cmd), "env -i %s/autotls-manager --hots 2>&1", dirname(lib));
	CHECK_INT(harness_command(cmd, out, sizeof(out)), ==, 2);
	CHECK(strstr(out, "usage: autotls-manager --host") != NULL);
}

static void host_manager_issues(void)
{
	REQUIRE(prepared);
	long ms = host_manager_issue(&hm, &env, NULL, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	hm_issued = 1;
}

static void postfix_starts(void)
{
	REQUIRE(prepared);
	pf_started = postfix_start(&pf, env.dir, harness_free_port(), env.envp) == 0;
	CHECK(pf_started);
	master_pid = pf.pid;
	/* Before anything of ours reaches it: its own certificate, as Postfix configures it. */
	struct tls_client_result r;
	REQUIRE(pf_started);
	CHECK_OK(starttls_connect(STARTTLS_SMTP, pf.port, POSTFIX_PLACEHOLDER_CN, pf.cert_file, NULL, &r));
}

static void smtpd_serves_managed(void)
{
	struct tls_client_result r;

	REQUIRE(hm_issued && pf_started);
	long ms = starttls_wait_serial(STARTTLS_SMTP, pf.port, SHIM_NAME, env.p.issuing_root_file, NULL,
				       SERVE_TIMEOUT_MS, 100, &r);
	CHECK(ms >= 0);
	if (ms < 0) {
		smtp_try(SHIM_NAME, NULL, &r);
		fprintf(stderr, "  smtpd serves subject %s issuer %s\n", r.subject, r.issuer);
		return;
	}
	fprintf(stderr, "  smtpd: %s verified over STARTTLS %ld ms after the first try (%s)\n", SHIM_NAME, ms,
		r.version);
	snprintf(first_serial, sizeof(first_serial), "%s", r.serial);
	CHECK(strcmp(first_serial, pf.serial) != 0);
	/* Every session from now on, in order. */
	CHECK_INT(starttls_count_serial(STARTTLS_SMTP, pf.port, SHIM_NAME, env.p.issuing_root_file, first_serial, 10),
		  ==, 10);
	served = 1;
}

/* Without SNI and for a name nobody manages: Postfix's own certificate, and the session works. */
static void unmanaged_keeps_placeholder(void)
{
	const char *names[] = {NULL, SHIM_UNMANAGED};
	struct tls_client_result r;

	REQUIRE(pf_started);
	for (size_t i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		CHECK_OK(starttls_connect(STARTTLS_SMTP, pf.port, names[i], NULL, NULL, &r));
		CHECK_STR(r.subject, "/CN=" POSTFIX_PLACEHOLDER_CN);
		CHECK_STR(r.serial, pf.serial);
	}
}

static void renewed_live(void)
{
	struct tls_client_result r;

	REQUIRE(served);
	long ms = starttls_wait_serial(STARTTLS_SMTP, pf.port, SHIM_NAME, env.p.issuing_root_file, first_serial,
				       RENEW_TIMEOUT_MS, 200, &r);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  smtpd: the renewed certificate (serial %s) served %ld ms into the wait\n", r.serial, ms);
	CHECK_INT(pf.pid, ==, master_pid); /* the same master: no reload, no restart */
	CHECK(postfix_alive(&pf));
	CHECK_INT(pebble_count_orders(&env.p), >=, 2);
	CHECK_INT(harness_file_count_lines(hm.log, "renewed the certificate for " SHIM_NAME), >=, 1);
}

static void keys_private_logs_clean(void)
{
	const char *logs[] = {hm.log, env.log, pf.maillog};

	REQUIRE(hm_issued);
	struct store_modes m;
	CHECK_OK(store_modes_check(env.store, 0, (gid_t)-1, &m));
	CHECK_INT(m.key_files, >=, 2); /* the account key and the certificate record */
	CHECK_INT(m.bad, ==, 0);
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		char *text = harness_read_file(logs[i], NULL);
		if (text != NULL && strstr(text, "PRIVATE KEY") != NULL) {
			fprintf(stderr, "  %s holds a private key\n", logs[i]);
			test_failed_now = 1;
		}
		free(text);
	}
}

int main(void)
{
	shim_env_validity_s = VALIDITY_S;
	shim_env_dir_tag = "reach-postfix";
	prepared = shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	shim_env_dir_tag = NULL;
	RUN(host_manager_refuses_bad_settings);
	RUN(host_manager_issues);
	RUN(postfix_starts);
	RUN(smtpd_serves_managed);
	RUN(unmanaged_keeps_placeholder);
	RUN(renewed_live);
	RUN(keys_private_logs_clean);
	if (test_failed_total) {
		harness_print_tail("host manager", hm.log, 4000);
		harness_print_tail("shim (smtpd)", env.log, 4000);
		postfix_print_logs(&pf);
	}
	postfix_stop(&pf);
	host_manager_stop(&hm);
	return shim_env_exit(&env);
}
