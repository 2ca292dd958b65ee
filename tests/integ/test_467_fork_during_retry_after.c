/*
 * Issue 15, acceptance 4: a host's fork() while the in-process manager waits out the CA's Retry-After returns at
 * once. The manager's thread does its CPU work holding the quiesce lock, which pthread_atfork's prepare takes;
 * a pause of the ACME client that kept it (a 10 s Retry-After while an order is "processing") would hold every
 * fork of the host for up to 10 s.
 *
 * The host is this test re-executed with LD_PRELOAD (as test_495 does): it makes a server context, then forks
 * every 50 ms for 22 s and reports how long each fork() took. Its manager runs in-process: the preload and the
 * manager library are copied into a folder without autotls-manager, so no manager process can be started (as for
 * a server that makes its contexts after dropping privileges). The CA is the scripted one (hostile_ca.h): the
 * order stays "processing" for 15 s after the finalize, every poll answered with Retry-After: 10, so the
 * client waits twice for 10 s while the host forks.
 */
#include "tests/harness/files.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <limits.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOST_FORK_MS 22000
#define HOST_LIMIT_MS 40000
#define HOLD_MS 15000
#define RETRY_AFTER_S 10
#define FORK_LIMIT_US 500000 /* "at once": far under the 10 s a held lock would cost */

static long long mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The host: a server context (the manager starts leading in this process), then forks, each timed. */
static int host_main(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return 3;
	long long start = mono_us(), max_us = 0, max_at = 0;
	int forks = 0, slow = 0;
	while (mono_us() - start < HOST_FORK_MS * 1000LL) {
		long long t = mono_us();
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		long long dt = mono_us() - t;
		if (pid < 0)
			return 4;
		waitpid(pid, NULL, 0);
		forks++;
		if (dt > 100000)
			slow++;
		if (dt > max_us) {
			max_us = dt;
			max_at = t - start;
		}
		usleep(50 * 1000);
	}
	printf("forks %d max_us %lld at_ms %lld slow %d\n", forks, max_us, max_at / 1000, slow);
	fflush(stdout);
	SSL_CTX_free(ctx);
	return 0;
}

static void fork_while_retry_after(void)
{
	char dir[] = "/tmp/autotls-t467-XXXXXX", libdir[64], lib[PATH_MAX], mlib[PATH_MAX], from[PATH_MAX];
	char store[PATH_MAX], log[PATH_MAX], out[PATH_MAX], pre[2 * PATH_MAX];
	struct hostile_ca *hc = NULL;
	struct hostile_counts c;
	int sanitized = 0;
	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE(hostile_ca_start(&hc, dir) == 0);
	hostile_ca_set_mode(hc, HC_HOLD_PROCESSING);
	hostile_ca_set_hold_ms(hc, HOLD_MS);
	hostile_ca_set_hold_retry_after(hc, RETRY_AFTER_S);

	/* The two libraries, without the manager program beside them. */
	snprintf(libdir, sizeof(libdir), "%s/lib", dir);
	REQUIRE(mkdir(libdir, 0755) == 0);
	REQUIRE(harness_shim_lib_path(from, sizeof(from)) == 0);
	snprintf(lib, sizeof(lib), "%s/libautotls.so", libdir);
	snprintf(mlib, sizeof(mlib), "%s/libautotls-manager.so", libdir);
	REQUIRE(harness_copy_file(from, lib, 0755) == 0);
	char *slash = strrchr(from, '/');
	REQUIRE(slash != NULL);
	snprintf(slash + 1, sizeof(from) - (size_t)(slash + 1 - from), "libautotls-manager.so");
	REQUIRE(harness_copy_file(from, mlib, 0755) == 0);
	REQUIRE(harness_preload_value(pre, sizeof(pre), lib, &sanitized) == 0);

	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(log, sizeof(log), "%s/autotls.log", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	long start = harness_now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(out, "w", stdout);
		(void)f;
		setenv("T467_HOST", "1", 1);
		setenv("AUTOTLS_DOMAINS", "fork.hostile.test", 1);
		setenv("AUTOTLS_CA", hostile_ca_directory_url(hc), 1);
		setenv("AUTOTLS_CA_ROOTS", hostile_ca_ca_file(hc), 1);
		setenv("AUTOTLS_STORAGE", store, 1);
		setenv("AUTOTLS_LOG", log, 1);
		setenv("AUTOTLS_LOG_LEVEL", "debug", 1);
		setenv("AUTOTLS_CHALLENGES", "tls-alpn-01", 1);
		if (sanitized) {
			putenv((char *)HARNESS_ASAN_OPTIONS);
			putenv((char *)HARNESS_UBSAN_OPTIONS);
		}
		setenv("LD_PRELOAD", pre, 1);
		execl("/proc/self/exe", "test_467_fork_during_retry_after", (char *)NULL);
		_exit(127);
	}
	REQUIRE(pid > 0);
	int status = 0, done = 0;
	while (!done && harness_now_ms() - start < HOST_LIMIT_MS) {
		done = waitpid(pid, &status, WNOHANG) == pid;
		if (!done)
			harness_sleep_ms(50);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	hostile_ca_counts(hc, &c);
	char *text = harness_read_file(out, NULL);
	int forks = 0, slow = -1;
	long long max_us = -1, at_ms = -1;
	if (text == NULL || sscanf(text, "forks %d max_us %lld at_ms %lld slow %d", &forks, &max_us, &at_ms, &slow) != 4)
		forks = -1;
	fprintf(stderr, "  host: %d forks in %d s, the slowest %lld us (at %lld ms), %d over 100 ms; the CA: %d "
			"finalize, %d order polls (Retry-After: %d s), %d certificate\n",
		forks, HOST_FORK_MS / 1000, max_us, at_ms, slow, c.finalize, c.order_polls, RETRY_AFTER_S, c.issued);
	char leading[64];
	snprintf(leading, sizeof(leading), "managing certificates in pid %d", (int)pid);
	CHECK(done && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_INT(forks, >=, 100);
	CHECK(max_us >= 0 && max_us < FORK_LIMIT_US);
	CHECK_INT(slow, ==, 0);
	/* The manager led in the host (no manager process) and did wait out the Retry-After while it forked. */
	CHECK_INT(harness_file_count_lines(log, leading), >=, 1);
	CHECK_INT(c.finalize, ==, 1);
	CHECK_INT(c.order_polls, >=, 2);
	CHECK_INT(c.order_polls, <=, 4); /* the 10 s were honoured, not polled through */
	if (test_failed_now) {
		if (text)
			fputs(text, stderr);
		harness_print_tail("the shim's log", log, 6000);
	}
	free(text);
	hostile_ca_stop(hc);
	harness_remove_or_keep(dir);
}

int main(void)
{
	if (getenv("T467_HOST") != NULL)
		return host_main();
	RUN(fork_while_retry_after);
	return TEST_EXIT();
}
