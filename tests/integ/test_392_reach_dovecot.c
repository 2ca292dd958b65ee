/*
 * Dovecot IMAPS and IMAP STARTTLS (issue 12, acceptance 2): proven out of reach as Debian configures it, and why.
 *
 * Dovecot's TLS sessions live in its login processes (imap-login), which run as dovenull, chrooted into an empty
 * folder, with their address space capped (vsz_limit, RLIMIT_AS). They make their TLS contexts there: the preload
 * hooks the context, but the region's 1 GiB reservation does not fit under the cap ("cannot map the shared
 * region"), and the manager library cannot be loaded from inside the chroot; so each login process serves
 * Dovecot's own certificate. Checked against a private Dovecot 2.3 (base_dir in the test's folder, both
 * listeners on loopback, import_environment passing LD_PRELOAD and the AUTOTLS_* settings): the shim's lines
 * from imap-login with uid dovenull and both reasons; IMAPS and STARTTLS for the managed name get Dovecot's own
 * certificate, which does not verify against the CA's root; the CA sees no order. Not done: a set-up that lets
 * the login processes follow the host manager (no chroot and no vsz_limit for imap-login still failed to
 * start the manager thread there; not investigated further).
 */
#include "tests/harness/files.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/spawn.h"
#include "tests/harness/starttls.h"
#include "tests/test.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOVECOT "/usr/sbin/dovecot"
#define SETTLE_MS 1500

static struct shim_env env;
static int prepared, started;
static pid_t dovecot_pid;
static int imap_port, imaps_port;
static char out_file[360], dlog[360], serial[80];

static void dovecot_starts(void)
{
	char cert[360], key[360], conf[360], base[360], state[360], mail[360];

	REQUIRE(prepared);
	snprintf(cert, sizeof(cert), "%s/dovecot-cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/dovecot-key.pem", env.dir);
	snprintf(conf, sizeof(conf), "%s/dovecot.conf", env.dir);
	snprintf(base, sizeof(base), "%s/dovecot-base", env.dir);
	snprintf(state, sizeof(state), "%s/dovecot-state", env.dir);
	snprintf(mail, sizeof(mail), "%s/mail", env.dir);
	snprintf(out_file, sizeof(out_file), "%s/dovecot.out", env.dir);
	snprintf(dlog, sizeof(dlog), "%s/dovecot.log", env.dir);
	REQUIRE(harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, serial, sizeof(serial)) == 0);
	mkdir(base, 0755);
	mkdir(state, 0755);
	mkdir(mail, 0755);
	/* The shim's log: the login processes (dovenull) append to it. */
	int fd = open(env.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	REQUIRE(fd >= 0);
	fchmod(fd, 0666);
	close(fd);
	imap_port = harness_free_port();
	imaps_port = harness_free_port();
	FILE *f = fopen(conf, "w");
	REQUIRE(f != NULL);
	fprintf(f,
		"base_dir = %s\nstate_dir = %s\nprotocols = imap\nlisten = 127.0.0.1\nlog_path = %s\n"
		"ssl = yes\nssl_cert = <%s\nssl_key = <%s\ndisable_plaintext_auth = no\n"
		"mail_location = maildir:%s/%%u\n"
		"passdb {\n  driver = static\n  args = password=unused\n}\n"
		"userdb {\n  driver = static\n  args = uid=nobody gid=nogroup home=%s/%%u\n}\n"
		"service imap-login {\n  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n"
		"  inet_listener imaps {\n    address = 127.0.0.1\n    port = %d\n  }\n}\n"
		"import_environment = TZ LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS AUTOTLS_DOMAINS AUTOTLS_STORAGE "
		"AUTOTLS_CA AUTOTLS_CA_ROOTS AUTOTLS_LOG AUTOTLS_LOG_LEVEL AUTOTLS_HTTP_PORT\n",
		base, state, dlog, cert, key, mail, mail, imap_port, imaps_port);
	fclose(f);
	char *argv[] = {DOVECOT, "-F", "-c", conf, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = env.envp,
		.out_path = out_file,
		.own_group = 1,
		.die_with_us = 1,
	};
	REQUIRE(harness_spawn(&o, &dovecot_pid) == 0);
	long t0 = harness_now_ms();
	while ((!harness_tcp_connects(imap_port) || !harness_tcp_connects(imaps_port)) &&
	       harness_now_ms() - t0 < 10000)
		harness_sleep_ms(50);
	started = harness_tcp_connects(imap_port) && harness_tcp_connects(imaps_port);
	CHECK(started);
}

static void own_certificate_served(void)
{
	struct tls_client_result r;
	const enum starttls_proto protos[] = {TLS_IMAPS, STARTTLS_IMAP};

	REQUIRE(started);
	for (size_t i = 0; i < 2; i++) {
		int port = protos[i] == TLS_IMAPS ? imaps_port : imap_port;
		memset(&r, 0, sizeof(r));
		CHECK_OK(starttls_connect(protos[i], port, SHIM_NAME, NULL, NULL, &r));
		CHECK_STR(r.serial, serial);
	}
	harness_sleep_ms(SETTLE_MS); /* what a manager would need to order and publish */
	for (size_t i = 0; i < 2; i++) {
		int port = protos[i] == TLS_IMAPS ? imaps_port : imap_port;
		memset(&r, 0, sizeof(r));
		CHECK_OK(starttls_connect(protos[i], port, SHIM_NAME, NULL, NULL, &r));
		CHECK_STR(r.serial, serial);
		tls_verify_quiet = 1;
		CHECK(starttls_connect(protos[i], port, SHIM_NAME, env.p.issuing_root_file, NULL, NULL) != 0);
		tls_verify_quiet = 0;
	}
	CHECK_INT(pebble_count_orders(&env.p), ==, 0);
}

/* Why: the shim's own lines from the login process. */
static void reasons_proven(void)
{
	struct passwd *pw = getpwnam("dovenull");
	char want[120];

	REQUIRE(started && pw != NULL);
	snprintf(want, sizeof(want), "uid %u); managing " SHIM_NAME, (unsigned)pw->pw_uid);
	CHECK_INT(harness_file_count_lines(env.log, want), >=, 1);
	CHECK_INT(harness_file_count_lines(env.log, "cannot map the shared region"), >=, 1);
	CHECK_INT(harness_file_count_lines(env.log, "cannot load"), >=, 1);
	CHECK_INT(harness_file_count_lines(env.log, "PRIVATE KEY"), <=, 0);
}

int main(void)
{
	shim_env_dir_tag = "reach-imap";
	prepared = shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_dir_tag = NULL;
	RUN(dovecot_starts);
	RUN(own_certificate_served);
	RUN(reasons_proven);
	if (test_failed_total) {
		harness_print_tail("dovecot", dlog, 2000);
		harness_print_tail("dovecot output", out_file, 1000);
	}
	if (dovecot_pid > 0)
		harness_stop_child(dovecot_pid, SIGTERM, 5000, 1);
	return shim_env_exit(&env);
}
