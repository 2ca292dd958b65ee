/*
 * Dovecot IMAPS and IMAP STARTTLS, following the host manager (issue 12, acceptance 2 and 6).
 *
 * Dovecot's TLS sessions live in its login processes (imap-login): the master (root) forks and executes one,
 * which drops to dovenull, chroots into an empty folder, caps its address space (vsz_limit) and sets
 * RLIMIT_NPROC to 1 ("make sure we can't fork()", login-common/main.c) by itself, and only then makes its TLS
 * context. The preload hooks that context as dovenull. The process can only follow (dovenull may not write the
 * store), and it may not start a thread (a thread counts against RLIMIT_NPROC: pthread_create fails with EAGAIN),
 * so the manager library follows without one (shim/manager/threadless.c): the handshakes themselves copy the
 * certificate from the store the host manager leads (AUTOTLS_STORAGE_GROUP=dovenull: certificate records 0640 for
 * dovenull's group), at most every 2 s. Two Dovecot 2.3 instances of one configuration (base_dir in the test's
 * folder, both listeners on loopback, import_environment passing LD_PRELOAD and the AUTOTLS_* settings):
 *   - Debian's default login chroot: the shim's lines from imap-login (uid dovenull) say it cannot map the region
 *     (no /proc inside the chroot to reopen the memfd through) and cannot load the manager library (its path does
 *     not exist inside the chroot; nor does the store's): IMAPS and STARTTLS keep Dovecot's own certificate.
 *     That is the precise reason it cannot follow there.
 *   - `service imap-login { chroot = }` (still dovenull, still under vsz_limit and RLIMIT_NPROC 1): IMAPS and
 *     STARTTLS verify a.example.test against Pebble's root from the first session; after the host manager renews
 *     (30-second certificates) new sessions get the new serial from the same master, no `doveadm reload`; without
 *     SNI and for an unmanaged name Dovecot keeps its own certificate; only the host manager orders; no key in any
 *     log.
 */
#include "tests/harness/files.h"
#include "tests/harness/host_manager.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/spawn.h"
#include "tests/harness/starttls.h"
#include "tests/harness/store_modes.h"
#include "tests/test.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOVECOT "/usr/sbin/dovecot"
#define VALIDITY_S 30
#define RENEW_TIMEOUT_MS 40000

struct dovecot {
	const char *tag;
	int chroot; /* Debian's default login chroot */
	pid_t pid;
	int imap_port, imaps_port, started;
	char dir[320], out_file[360], dlog[360], shim_log[360], e_log[380];
	char *envp[24];
};

static struct shim_env env;
static struct host_manager hm;
static struct dovecot jailed = {.tag = "chroot", .chroot = 1}, open_login = {.tag = "nochroot"};
static int prepared, hm_issued, served;
static char serial[80], first_serial[80], e_group[64];

static int dovecot_start(struct dovecot *d)
{
	char cert[360], key[360], conf[360], base[360], state[360], mail[360];
	size_t k = 0;

	snprintf(d->dir, sizeof(d->dir), "%s/%s", env.dir, d->tag);
	mkdir(d->dir, 0755);
	snprintf(cert, sizeof(cert), "%s/dovecot-cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/dovecot-key.pem", env.dir);
	snprintf(conf, sizeof(conf), "%s/dovecot.conf", d->dir);
	snprintf(base, sizeof(base), "%s/base", d->dir);
	snprintf(state, sizeof(state), "%s/state", d->dir);
	snprintf(mail, sizeof(mail), "%s/mail", d->dir);
	snprintf(d->out_file, sizeof(d->out_file), "%s/dovecot.out", d->dir);
	snprintf(d->dlog, sizeof(d->dlog), "%s/dovecot.log", d->dir);
	snprintf(d->shim_log, sizeof(d->shim_log), "%s/autotls.log", d->dir);
	snprintf(d->e_log, sizeof(d->e_log), "AUTOTLS_LOG=%s", d->shim_log);
	mkdir(base, 0755);
	mkdir(state, 0755);
	mkdir(mail, 0755);
	/* The shim's log: the login processes (dovenull) append to it. */
	int fd = open(d->shim_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (fd < 0)
		return -1;
	fchmod(fd, 0666);
	close(fd);
	for (size_t i = 0; env.envp[i] != NULL && k + 3 < sizeof(d->envp) / sizeof(d->envp[0]); i++)
		d->envp[k++] = env.envp[i] == env.e_log ? d->e_log : env.envp[i];
	d->envp[k++] = e_group;
	d->envp[k] = NULL;
	d->imap_port = harness_free_port();
	d->imaps_port = harness_free_port();
	FILE *f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"base_dir = %s\nstate_dir = %s\nprotocols = imap\nlisten = 127.0.0.1\nlog_path = %s\n"
		"ssl = yes\nssl_cert = <%s\nssl_key = <%s\ndisable_plaintext_auth = no\n"
		"mail_location = maildir:%s/%%u\n"
		"passdb {\n  driver = static\n  args = password=unused\n}\n"
		"userdb {\n  driver = static\n  args = uid=nobody gid=nogroup home=%s/%%u\n}\n"
		"service imap-login {\n%s  inet_listener imap {\n    address = 127.0.0.1\n    port = %d\n  }\n"
		"  inet_listener imaps {\n    address = 127.0.0.1\n    port = %d\n  }\n}\n"
		"import_environment = TZ LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS AUTOTLS_DOMAINS AUTOTLS_STORAGE "
		"AUTOTLS_STORAGE_GROUP AUTOTLS_CA AUTOTLS_CA_ROOTS AUTOTLS_LOG AUTOTLS_LOG_LEVEL AUTOTLS_HTTP_PORT\n",
		base, state, d->dlog, cert, key, mail, mail, d->chroot ? "" : "  chroot =\n", d->imap_port,
		d->imaps_port);
	if (fclose(f) != 0)
		return -1;
	char *argv[] = {DOVECOT, "-F", "-c", conf, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = d->envp,
		.out_path = d->out_file,
		.own_group = 1,
		.die_with_us = 1,
	};
	if (harness_spawn(&o, &d->pid) != 0)
		return -1;
	long t0 = harness_now_ms();
	while ((!harness_tcp_connects(d->imap_port) || !harness_tcp_connects(d->imaps_port)) &&
	       harness_now_ms() - t0 < 10000)
		harness_sleep_ms(50);
	d->started = harness_tcp_connects(d->imap_port) && harness_tcp_connects(d->imaps_port);
	return d->started ? 0 : -1;
}

static int port_of(const struct dovecot *d, enum starttls_proto p)
{
	return p == TLS_IMAPS ? d->imaps_port : d->imap_port;
}

static const enum starttls_proto protos[] = {TLS_IMAPS, STARTTLS_IMAP};

static void host_manager_issues(void)
{
	char *extra[] = {e_group, NULL};

	REQUIRE(prepared);
	long ms = host_manager_issue(&hm, &env, extra, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	hm_issued = 1;
}

/* Debian's default: the login chroot hides the manager library (and the store) from imap-login. */
static void chroot_reason_proven(void)
{
	struct passwd *pw = getpwnam("dovenull");
	struct tls_client_result r;
	char want[120];

	REQUIRE(hm_issued && pw != NULL);
	CHECK_OK(dovecot_start(&jailed));
	REQUIRE(jailed.started);
	for (size_t i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		CHECK_OK(starttls_connect(protos[i], port_of(&jailed, protos[i]), SHIM_NAME, NULL, NULL, &r));
		CHECK_STR(r.serial, serial);
	}
	snprintf(want, sizeof(want), "uid %u); managing " SHIM_NAME, (unsigned)pw->pw_uid);
	CHECK_INT(harness_file_count_lines(jailed.shim_log, want), >=, 1);
	/* The library's absolute path, as seen from inside the chroot: no such file. */
	CHECK_INT(harness_file_count_lines(jailed.shim_log, "libautotls-manager.so: cannot open shared object file: "
							    "No such file or directory"),
		  >=, 1);
	CHECK_INT(harness_file_count_lines(jailed.shim_log, "cannot map the shared region"), >=, 1);
	CHECK_INT(harness_file_count_lines(jailed.shim_log, "published the certificate"), ==, 0);
	harness_stop_child(jailed.pid, SIGTERM, 5000, 1);
	jailed.pid = 0;
}

static void login_follows(void)
{
	struct passwd *pw = getpwnam("dovenull");
	struct tls_client_result r;
	char want[120];

	REQUIRE(hm_issued && pw != NULL);
	CHECK_OK(dovecot_start(&open_login));
	REQUIRE(open_login.started);
	for (size_t i = 0; i < 2; i++) {
		/* The first session of each listener already: a login process's first handshake copies from the
		 * store before it picks a certificate (threadless.c). */
		memset(&r, 0, sizeof(r));
		CHECK_OK(starttls_connect(protos[i], port_of(&open_login, protos[i]), SHIM_NAME, env.p.issuing_root_file,
					  NULL, &r));
		if (test_failed_now)
			return;
		fprintf(stderr, "  dovecot %s: %s verified in the first session\n",
			protos[i] == TLS_IMAPS ? "IMAPS" : "STARTTLS", SHIM_NAME);
		CHECK(strcmp(r.serial, serial) != 0);
		snprintf(first_serial, sizeof(first_serial), "%s", r.serial);
		CHECK_INT(starttls_count_serial(protos[i], port_of(&open_login, protos[i]), SHIM_NAME,
						env.p.issuing_root_file, first_serial, 5),
			  ==, 5);
	}
	snprintf(want, sizeof(want), "uid %u); managing " SHIM_NAME, (unsigned)pw->pw_uid);
	CHECK_INT(harness_file_count_lines(open_login.shim_log, want), >=, 1);
	/* No thread in a login process: the handshakes follow. */
	CHECK_INT(harness_file_count_lines(open_login.shim_log, "may not start a thread (RLIMIT_NPROC 1)"), >=, 1);
	served = 1;
}

static void unmanaged_keeps_own(void)
{
	const char *names[] = {NULL, SHIM_UNMANAGED};
	struct tls_client_result r;

	REQUIRE(open_login.started);
	for (size_t i = 0; i < 2; i++)
		for (size_t n = 0; n < 2; n++) {
			memset(&r, 0, sizeof(r));
			CHECK_OK(starttls_connect(protos[i], port_of(&open_login, protos[i]), names[n], NULL, NULL,
						  &r));
			CHECK_STR(r.serial, serial);
		}
}

static void renewed_live(void)
{
	struct tls_client_result r;

	REQUIRE(served);
	pid_t master = open_login.pid;
	long ms = starttls_wait_serial(TLS_IMAPS, open_login.imaps_port, SHIM_NAME, env.p.issuing_root_file,
				       first_serial, RENEW_TIMEOUT_MS, 200, &r);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  dovecot: the renewed certificate (serial %s) served %ld ms into the wait\n", r.serial, ms);
	char renewed[80];
	snprintf(renewed, sizeof(renewed), "%s", r.serial);
	CHECK_INT(starttls_count_serial(STARTTLS_IMAP, open_login.imap_port, SHIM_NAME, env.p.issuing_root_file,
					renewed, 3),
		  ==, 3);
	CHECK(kill(master, 0) == 0);
	CHECK_INT(open_login.pid, ==, master);
}

static void only_host_manager_orders_logs_clean(void)
{
	const char *logs[] = {hm.log, jailed.shim_log, open_login.shim_log, jailed.dlog, open_login.dlog};

	REQUIRE(hm_issued);
	CHECK_INT(harness_file_count_lines(open_login.shim_log, "managing certificates in pid"), ==, 0);
	CHECK_INT(harness_file_count_lines(jailed.shim_log, "managing certificates in pid"), ==, 0);
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++)
		CHECK_INT(harness_file_count_lines(logs[i], "PRIVATE KEY"), ==, 0);
	/* keys 0600; certificate records 0640 for dovenull's group (AUTOTLS_STORAGE_GROUP), no more */
	struct group *gr = getgrnam("dovenull");
	struct store_modes m;
	REQUIRE(gr != NULL);
	CHECK_OK(store_modes_check(env.store, (uid_t)-1, gr->gr_gid, &m));
	CHECK_INT(m.cert_records, >=, 1);
	CHECK_INT(m.acct_keys, >=, 1);
	CHECK_INT(m.bad, ==, 0);
}

int main(void)
{
	struct group *gr = getgrnam("dovenull");
	char cert[360], key[360];

	snprintf(e_group, sizeof(e_group), "AUTOTLS_STORAGE_GROUP=dovenull");
	shim_env_validity_s = VALIDITY_S;
	shim_env_dir_tag = "reach-imap";
	prepared = gr != NULL && shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	shim_env_dir_tag = NULL;
	if (prepared) {
		snprintf(cert, sizeof(cert), "%s/dovecot-cert.pem", env.dir);
		snprintf(key, sizeof(key), "%s/dovecot-key.pem", env.dir);
		prepared = harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, serial, sizeof(serial)) == 0;
	}
	RUN(host_manager_issues);
	RUN(chroot_reason_proven);
	RUN(login_follows);
	RUN(unmanaged_keeps_own);
	RUN(renewed_live);
	RUN(only_host_manager_orders_logs_clean);
	if (test_failed_total) {
		harness_print_tail("host manager", hm.log, 3000);
		harness_print_tail("shim (chroot)", jailed.shim_log, 3000);
		harness_print_tail("shim (no chroot)", open_login.shim_log, 4000);
		harness_print_tail("dovecot (no chroot)", open_login.dlog, 2000);
		harness_print_tail("dovecot output", open_login.out_file, 1000);
	}
	if (jailed.pid > 0)
		harness_stop_child(jailed.pid, SIGTERM, 5000, 1);
	if (open_login.pid > 0)
		harness_stop_child(open_login.pid, SIGTERM, 5000, 1);
	host_manager_stop(&hm);
	return shim_env_exit(&env);
}
