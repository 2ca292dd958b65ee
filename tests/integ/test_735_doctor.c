/*
 * `autotls doctor` answers each kind of server the way the man page says, with the documented exit code: nginx,
 * openssl and python3 (through its ssl module) can be covered (0), and so can Postfix's smtpd (libpostfix-tls.so),
 * Dovecot's imap-login (its TLS module), mosquitto and vsftpd, each with a note of its set-up; caddy (Go), gnutls-serv (GnuTLS), a binary
 * with OpenSSL linked in statically, a fully static binary and a set-uid copy of openssl cannot (1, each with
 * its fix); a running nginx under the preload is covered, master and workers (0: the preload and the region
 * mapped shared in each); a running process that has libssl.so.3 without the preload (this test) is not (1);
 * a unit (below --root) whose drop-in autotls enable wrote sets the preload (0), without it (1); a missing file
 * or process cannot be told (3).
 */
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_client.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char cli[PATH_MAX], dir[] = "/tmp/autotls-735-XXXXXX", out[32768];

static int doctor(const char *target)
{
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "%s doctor %s", cli, target);
	int rc = harness_command(cmd, out, sizeof(out));
	fprintf(stderr, "  doctor %s -> %d: %s", target, rc, out);
	return rc;
}

static void setup(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE(chmod(dir, 0755) == 0);
}

static void binaries(void)
{
	char path[PATH_MAX], cmd[3 * PATH_MAX];
	CHECK_INT(doctor("/usr/sbin/nginx"), ==, 0);
	CHECK(strstr(out, "yes: links libssl.so.3 dynamically") != NULL);
	CHECK_INT(doctor("/usr/bin/openssl"), ==, 0);
	CHECK_INT(doctor("/usr/bin/python3"), ==, 0);
	CHECK(strstr(out, "Python's ssl module") != NULL);
	/* The servers that follow the host manager: their TLS where the binary does not show it, and each one's
	 * set-up (doctor_reach.c). */
	CHECK_INT(doctor("/usr/lib/postfix/sbin/smtpd"), ==, 0);
	CHECK(strstr(out, "libpostfix-tls.so") != NULL && strstr(out, "note: ") && strstr(out, "import_environment"));
	CHECK_INT(doctor("/usr/lib/dovecot/imap-login"), ==, 0);
	CHECK(strstr(out, "libssl_iostream_openssl.so") != NULL && strstr(out, "chroot =") &&
	      strstr(out, "AUTOTLS_STORAGE_GROUP=dovenull"));
	CHECK_INT(doctor("/usr/sbin/mosquitto"), ==, 0);
	CHECK(strstr(out, "AUTOTLS_STORAGE_GROUP=mosquitto") != NULL);
	CHECK_INT(doctor("/usr/sbin/vsftpd"), ==, 0);
	CHECK(strstr(out, "AUTOTLS_CHALLENGES=http-01") != NULL);
	CHECK_INT(doctor("/usr/bin/caddy"), ==, 1);
	CHECK(strstr(out, "a Go program") != NULL && strstr(out, "Fix:") != NULL);
	CHECK_INT(doctor("/usr/bin/gnutls-serv"), ==, 1);
	CHECK(strstr(out, "uses GnuTLS") != NULL && strstr(out, "Fix:") != NULL);
	/* OpenSSL linked in: into a dynamic binary (libssl.a), and into a fully static one. */
	FILE *f;
	snprintf(path, sizeof(path), "%s/tls.c", dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs("#include <openssl/ssl.h>\nint main(void) { SSL_CTX_free(SSL_CTX_new(TLS_server_method())); "
	      "return 0; }\n", f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cc -o %s/static-openssl %s -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic && "
				   "cc -static -o %s/all-static %s -lssl -lcrypto 2>/dev/null", dir, path, dir, path);
	REQUIRE(harness_command(cmd, out, sizeof(out)) == 0);
	snprintf(path, sizeof(path), "%s/static-openssl", dir);
	CHECK_INT(doctor(path), ==, 1);
	CHECK(strstr(out, "OpenSSL is linked into the binary") != NULL);
	snprintf(path, sizeof(path), "%s/all-static", dir);
	CHECK_INT(doctor(path), ==, 1);
	CHECK(strstr(out, "statically linked") != NULL);
	/* A set-uid copy of a binary that could be covered otherwise. */
	snprintf(path, sizeof(path), "%s/openssl-suid", dir);
	REQUIRE(harness_copy_file("/usr/bin/openssl", path, 0755) == 0);
	REQUIRE(chmod(path, 04755) == 0);
	CHECK_INT(doctor(path), ==, 1);
	CHECK(strstr(out, "no: set-uid") != NULL && strstr(out, "ld.so(8)") != NULL);
	snprintf(path, sizeof(path), "%s/no-such-binary", dir);
	CHECK_INT(doctor(path), ==, 3);
	CHECK_INT(doctor("99999999999"), ==, 2); /* past INT_MAX: not a pid */
	CHECK_INT(doctor("4194304"), ==, 3);   /* above pid_max: no such process */
}

static void units(void)
{
	char args[3 * PATH_MAX], unitdir[PATH_MAX];
	snprintf(unitdir, sizeof(unitdir), "%s/lib/systemd/system", dir);
	snprintf(args, sizeof(args), "mkdir -p %s && printf '[Service]\\nExecStart=/usr/sbin/nginx -g \"daemon on;\"\\n' "
				     ">%s/nginx.service", unitdir, unitdir);
	REQUIRE(harness_command(args, out, sizeof(out)) == 0);
	snprintf(args, sizeof(args), "nginx --root %s", dir);
	CHECK_INT(doctor(args), ==, 1);
	CHECK(strstr(out, "no drop-in sets LD_PRELOAD. Fix: autotls enable nginx") != NULL);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "%s enable nginx -d example.test --root %s", cli, dir);
	REQUIRE(harness_command(cmd, out, sizeof(out)) == 0);
	CHECK_INT(doctor(args), ==, 0);
	CHECK(strstr(out, "autotls.conf sets LD_PRELOAD=") != NULL);
}

static void running_processes(void)
{
	struct shim_env env;
	char pid[32];
	/* This test has libssl.so.3 (the harness links it) and no preload. */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	CHECK_INT(doctor(pid), ==, 1);
	CHECK(strstr(out, "has libssl.so.3 but not the preload") != NULL);
	/* nginx under the preload, once it serves a certificate: master and workers covered. */
	int started = shim_env_start(&env, SERVER_NGINX) == 0;
	if (started)
		CHECK(shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0);
	CHECK(started);
	if (started && !test_failed_now) {
		snprintf(pid, sizeof(pid), "%d", (int)env.srv.pid);
		CHECK_INT(doctor(pid), ==, 0);
		CHECK(strstr(out, "yes: covered") != NULL);
		/* the master and at least one worker, each with the preload and the region shared */
		int lines = 0;
		for (const char *p = out; (p = strstr(p, "preload mapped, region mapped shared")) != NULL; p++)
			lines++;
		CHECK_INT(lines, >=, 2);
	}
	shim_env_finish(&env);
}

int main(void)
{
	RUN(setup);
	if (test_failed_total == 0) {
		RUN(binaries);
		RUN(units);
		RUN(running_processes);
	}
	char cmd[PATH_MAX];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return TEST_EXIT();
}
