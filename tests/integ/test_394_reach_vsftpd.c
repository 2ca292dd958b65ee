/*
 * vsftpd with FTPS (issue 12, acceptance 4).
 *
 * vsftpd makes its TLS context in the listening process as root (the preload hooks it there, maps its region
 * and starts the tree's manager), and forks a process per session that caps its own address space (RLIMIT_AS,
 * 200 MiB in vsftpd 3.0.3) before it allocates anything. The region a tree gets is sized to what it can hold
 * (shim/shm.h): AUTOTLS_DOMAINS alone is the small region, far below that cap (a 1 GiB reservation, as every
 * tree had before, made every session answer "500 OOPS: mmap"). Checked: the same vsftpd without the preload
 * completes AUTH TLS (RFC 4217) with its own certificate; under the preload the listener's region is below half
 * the session cap, sessions verify the managed name against Pebble's root (HTTP-01: Pebble cannot reach
 * TLS-ALPN-01 behind AUTH TLS), and another name keeps vsftpd's own certificate; after the renewal (30-second
 * certificates) new sessions of the same listener get the new serial; no key in the shim's or vsftpd's log.
 */
#include "tests/harness/files.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/spawn.h"
#include "tests/harness/starttls.h"
#include "tests/harness/store_modes.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define VSFTPD "/usr/sbin/vsftpd"
#define SESSION_AS_LIMIT (200L * 1024 * 1024) /* vsftpd 3.0.3's VSFTP_AS_LIMIT */
#define VALIDITY_S 30
#define RENEW_TIMEOUT_MS 40000

static struct shim_env env;
static int prepared;
static char conf[360], out_file[360], serial[80];
static char *plain_envp[20];

/* Writes vsftpd's configuration for port (anonymous FTPS on 127.0.0.1, foreground). 0 or -1. */
static int write_conf(int port)
{
	char cert[360], key[360], empty[360];

	snprintf(cert, sizeof(cert), "%s/ftp-cert.pem", env.dir);
	snprintf(key, sizeof(key), "%s/ftp-key.pem", env.dir);
	snprintf(empty, sizeof(empty), "%s/empty", env.dir);
	snprintf(conf, sizeof(conf), "%s/vsftpd.conf", env.dir);
	snprintf(out_file, sizeof(out_file), "%s/vsftpd.out", env.dir);
	if (harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, serial, sizeof(serial)) != 0)
		return -1;
	mkdir(empty, 0755);
	FILE *f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port=%d\nbackground=NO\n"
		"anonymous_enable=YES\nlocal_enable=NO\nsecure_chroot_dir=%s\nssl_enable=YES\nallow_anon_ssl=YES\n"
		"force_anon_logins_ssl=NO\nforce_anon_data_ssl=NO\nrsa_cert_file=%s\nrsa_private_key_file=%s\n"
		"require_ssl_reuse=NO\npasv_enable=NO\nxferlog_enable=NO\n",
		port, empty, cert, key);
	return fclose(f) == 0 ? 0 : -1;
}

static pid_t vsftpd_start(int port, char *const envp[])
{
	pid_t pid = 0;
	char *argv[] = {VSFTPD, conf, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = envp,
		.drop_prefix = "LD_PRELOAD",
		.out_path = out_file,
		.own_group = 1,
		.die_with_us = 1,
	};
	if (write_conf(port) != 0 || harness_spawn(&o, &pid) != 0)
		return 0;
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(port) && harness_now_ms() - t0 < 10000)
		harness_sleep_ms(20);
	return pid;
}

/* Without the preload: FTPS with vsftpd's own certificate (the client and the configuration are right). */
static void plain_vsftpd_works(void)
{
	struct tls_client_result r;
	size_t k = 0;

	REQUIRE(prepared);
	for (size_t i = 0; env.envp[i] != NULL && k + 1 < sizeof(plain_envp) / sizeof(plain_envp[0]); i++)
		if (env.envp[i] != env.e_preload)
			plain_envp[k++] = env.envp[i];
	plain_envp[k] = NULL;
	int port = harness_free_port();
	pid_t pid = vsftpd_start(port, plain_envp);
	REQUIRE(pid > 0);
	memset(&r, 0, sizeof(r));
	CHECK_OK(starttls_connect(STARTTLS_FTP, port, SHIM_NAME, NULL, NULL, &r));
	CHECK_STR(r.serial, serial);
	harness_stop_child(pid, SIGTERM, 3000, 1);
}

/* Under the preload: the listener (root) makes the TLS context, maps the region sized to what it can hold
 * (AUTOTLS_DOMAINS alone: the small region, below the session cap) and leads through HTTP-01 (Pebble cannot reach
 * TLS-ALPN-01 behind FTP's AUTH TLS); every session process inherits the region and serves the managed
 * certificate, verified against Pebble's root; another name keeps vsftpd's own. */
static void preload_covers_sessions(void)
{
	char path[64];
	struct tls_client_result r;

	REQUIRE(prepared);
	int port = harness_free_port();
	long t0 = harness_now_ms();
	pid_t pid = vsftpd_start(port, env.envp);
	REQUIRE(pid > 0);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	char *maps = harness_read_file(path, NULL), *line = maps ? strstr(maps, "/memfd:autotls ") : NULL;
	CHECK(line != NULL);
	if (line != NULL) {
		while (line > maps && line[-1] != '\n')
			line--;
		unsigned long lo = strtoul(line, &line, 16), hi = strtoul(line + 1, NULL, 16);
		fprintf(stderr, "  vsftpd's listener maps the autotls region: %lu MiB (a session may map %ld MiB)\n",
			(hi - lo) >> 20, SESSION_AS_LIMIT >> 20);
		CHECK((long)(hi - lo) < SESSION_AS_LIMIT / 2);
	}
	free(maps);
	CHECK(starttls_wait_serial(STARTTLS_FTP, port, SHIM_NAME, env.p.issuing_root_file, NULL, 20000, 200, &r) >= 0);
	fprintf(stderr, "  FTPS session verified %s against Pebble's root %ld ms after vsftpd started\n", SHIM_NAME,
		harness_now_ms() - t0);
	/* Sessions are new processes each: ten in a row all serve it. */
	CHECK_INT(starttls_count_serial(STARTTLS_FTP, port, SHIM_NAME, env.p.issuing_root_file, r.serial, 10), ==, 10);
	char first[80];
	snprintf(first, sizeof(first), "%s", r.serial);
	memset(&r, 0, sizeof(r));
	CHECK_OK(starttls_connect(STARTTLS_FTP, port, "other.example.test", NULL, NULL, &r));
	CHECK_STR(r.serial, serial);
	/* The renewal (30-second certificates, renewed with a third left) reaches new sessions of the same
	 * listener: each session is a fork that inherits the region the tree's manager publishes into. */
	long ms = starttls_wait_serial(STARTTLS_FTP, port, SHIM_NAME, env.p.issuing_root_file, first, RENEW_TIMEOUT_MS,
				       200, &r);
	CHECK(ms >= 0);
	if (ms >= 0)
		fprintf(stderr, "  vsftpd: the renewed certificate (serial %s) served %ld ms into the wait\n", r.serial,
			ms);
	CHECK(kill(pid, 0) == 0);
	CHECK_INT(pebble_count_orders(&env.p), >=, 2);
	CHECK_INT(harness_file_count_lines(env.log, "PRIVATE KEY"), ==, 0);
	CHECK_INT(harness_file_count_lines(out_file, "PRIVATE KEY"), ==, 0);
	struct store_modes m;
	CHECK_OK(store_modes_check(env.store, (uid_t)-1, (gid_t)-1, &m));
	CHECK_INT(m.key_files, >=, 2); /* the account key and the certificate record, each 0600 */
	CHECK_INT(m.bad, ==, 0);
	harness_stop_child(pid, SIGTERM, 3000, 1);
}

int main(void)
{
	static const char chall[] = "AUTOTLS_CHALLENGES=http-01";
	shim_env_dir_tag = "reach-ftp";
	shim_env_extra[0] = chall;
	shim_env_validity_s = VALIDITY_S;
	prepared = shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	shim_env_dir_tag = NULL;
	RUN(plain_vsftpd_works);
	RUN(preload_covers_sessions);
	if (test_failed_total)
		harness_print_tail("vsftpd", out_file, 2000);
	return shim_env_exit(&env);
}
