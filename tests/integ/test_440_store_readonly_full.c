/*
 * The store runs out of space at renewal time: the store is a 64 KiB tmpfs (mount -t tmpfs -o size=64k; the
 * tests run as root and this sandbox allows it, so the read-only variant with an unprivileged server is not
 * needed). s_server under the shim gets a 16-second certificate; then the tmpfs is filled with a big file and
 * the renewal (due ~8 s before expiry) cannot write. No AUTOTLS_TEST_BACKOFF_SCALE here: the next try is 60 s
 * away, so exactly one failed renewal falls inside the certificate's lifetime. While the certificate is valid
 * a client loops verified handshakes: none fails and the serial stays; the failure is logged as errors that
 * name the cause (counted: lines with "error:" mentioning the store or the space); the record still loads
 * (key matching) afterwards, and nothing in the store is empty or half-written.
 */
#include "tests/harness/proc.h"
#include "tests/harness/records.h"
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fill(const char *path)
{
	static char block[4096];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	long n = 0;

	if (fd < 0)
		return -1;
	while (write(fd, block, sizeof(block)) == (ssize_t)sizeof(block))
		n++;
	/* The last pages, byte by byte would be slow: a partial page is enough to leave nothing. */
	while (write(fd, block, 1) == 1)
		;
	int err = errno;
	close(fd);
	fprintf(stderr, "  filled the store with %ld KiB (%s)\n", n * 4, strerror(err));
	return err == ENOSPC ? 0 : -1;
}

static int store_line(const char *line)
{
	return strstr(line, "store") || strstr(line, "space") || strstr(line, "AUTOTLS_STORAGE") ||
	       strstr(line, "write") || strstr(line, "lock");
}

static void old_certificate_kept_when_the_store_is_full(void)
{
	struct shim_env env;
	struct pebble_opts po = {.validity_s = 16, .authz_reuse = -1};
	struct at_cert_record rec;
	struct tls_client_result r;
	char s1[80], filler[400];
	int mounted = 0;

	shim_env_backoff_scale = 0;
	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, &po) == 0;
	CHECK(ok);
	if (!ok)
		goto out;
	CHECK_OK(mkdir(env.store, 0700));
	if (mount("tmpfs", env.store, "tmpfs", 0, "size=64k,mode=0700") != 0) {
		fprintf(stderr, "  mount -t tmpfs on %s: %s (tmpfs mounts not allowed here)\n", env.store,
			strerror(errno));
		CHECK(!"a tmpfs store");
		goto out;
	}
	mounted = 1;
	REQUIRE(shim_env_server_start(&env) == 0);
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, SHIM_ISSUE_TIMEOUT_MS, s1, sizeof(s1));
	CHECK(ms >= 0);
	if (ms < 0)
		goto out;
	time_t not_after;
	CHECK_OK(harness_record_not_after(env.store, env.p.directory_url, SHIM_NAME, &not_after));
	snprintf(filler, sizeof(filler), "%s/filler", env.store);
	CHECK_OK(fill(filler));
	int errors_before = shim_log_count(&env, "error:", NULL);

	int handshakes = 0, failed = 0, changed = 0;
	while (time(NULL) < not_after - 1) {
		handshakes++;
		if (shim_try(&env, env.p.issuing_root_file, &r) != 0)
			failed++;
		else if (strcmp(r.serial, s1) != 0)
			changed++;
		harness_sleep_ms(50);
	}
	/* Orders the renewal started ("obtaining ..." lines that are not the failure's own line, less the first). */
	int attempts = shim_log_count(&env, "obtaining a certificate for", NULL) -
		       shim_log_count(&env, "obtaining a certificate for", "failed") - 1;
	int errors = shim_log_count(&env, "error:", NULL) - errors_before;
	fprintf(stderr, "  until expiry: %d handshakes, %d failed, %d with another serial; %d renewal order(s) started, %d "
			"error line(s), %d orders at Pebble:\n",
		handshakes, failed, changed, attempts, errors, pebble_count_orders(&env.p));
	shim_log_print(&env, "error:", 8);
	shim_log_print(&env, "warn:", 8);
	CHECK_INT(failed, ==, 0);
	CHECK_INT(changed, ==, 0);
	CHECK_INT(errors, >=, 1);
	/* One failure, said once: the manager's line (and at most one more with the cause); it names the store. */
	CHECK_INT(shim_log_count(&env, "error:", "next try in"), ==, 1);
	CHECK_INT(errors, <=, 2);
	int store_errors = 0;
	{
		char *text = harness_read_file(env.log, NULL);
		for (char *line = text; line && *line;) {
			char *end = strchr(line, '\n');
			if (end)
				*end = '\0';
			store_errors += strstr(line, "error:") && store_line(line);
			if (!end)
				break;
			line = end + 1;
		}
		free(text);
	}
	CHECK_INT(store_errors, >=, 1);
	/* Nothing corrupted: the record loads, with the first certificate. */
	CHECK_OK(harness_record_load_dir(env.store, env.p.directory_url, SHIM_NAME, &rec));
	CHECK(rec.info.not_after == not_after);
	at_cert_record_clear(&rec);
	shim_check_log(&env);
out:
	if (test_failed_now)
		shim_env_dump(&env);
	server_stop(&env.srv);
	if (mounted) {
		/* The tree's manager process (autotls-manager) outlives the server for a moment: wait for it to let go
		 * of the store, then detach the mount all the same. */
		long t0 = harness_now_ms();
		while (umount(env.store) != 0) {
			if (errno != EBUSY || harness_now_ms() - t0 > 10000) {
				fprintf(stderr, "  umount %s: %s; detaching it\n", env.store, strerror(errno));
				umount2(env.store, MNT_DETACH);
				break;
			}
			harness_sleep_ms(50);
		}
		if (harness_now_ms() - t0 > 100)
			fprintf(stderr, "  the store stayed busy %ld ms after the server stopped\n", harness_now_ms() - t0);
	}
	shim_env_stop(&env);
	shim_env_backoff_scale = 60;
}

int main(void)
{
	RUN(old_certificate_kept_when_the_store_is_full);
	return TEST_EXIT();
}
