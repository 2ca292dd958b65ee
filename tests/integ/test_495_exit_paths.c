/*
 * The ways a host process ends, under the shim (this test re-executes itself with LD_PRELOAD, as test_490 does):
 * at exit the manager thread is parked on its quiesce lock before OpenSSL's own cleanup runs, and what the host
 * does after that must still work. Here the host has an exit handler of its own, registered before its first
 * server context (so it runs after ours), that forks and waits for the child: that fork must neither wait for the
 * parked lock (the exiting thread holds it) nor start a manager thread in the child. The CA is a closed loopback
 * port: the manager is busy failing to reach it, as in a CA outage.
 */
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <limits.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_LIMIT_MS 20000

/* The host's exit handler: a fork (as a host that spawns a helper at shutdown does) and a wait for it. */
static void fork_at_exit(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(42);
	int status = 0;
	if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 42)
		printf("  the fork in the host's exit handler ran and was reaped\n");
	fflush(stdout);
}

static int host_main(void)
{
	atexit(fork_at_exit);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return 3;
	usleep(300 * 1000); /* the manager thread and the helper are running */
	SSL_CTX_free(ctx);
	return 0; /* exit(): our handler parks the manager thread, then fork_at_exit forks */
}

static void fork_in_an_exit_handler(void)
{
	char dir[] = "/tmp/autotls-t495-XXXXXX", store[PATH_MAX], ca[64], lib[PATH_MAX], out[PATH_MAX];
	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE(harness_shim_lib_path(lib, sizeof(lib)) == 0);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(ca, sizeof(ca), "https://127.0.0.1:%d/dir", harness_free_port());
	long start = harness_now_ms();
	pid_t pid = fork();
	if (pid == 0) {
		FILE *f = freopen(out, "w", stdout);
		(void)f;
		setenv("T495_HOST", "1", 1);
		setenv("AUTOTLS_DOMAINS", "t.example.test", 1);
		setenv("AUTOTLS_STORAGE", store, 1);
		setenv("AUTOTLS_CA", ca, 1);
		setenv("AUTOTLS_LOG_LEVEL", "error", 1);
		const char *pre = getenv("T495_PRELOAD_FIRST"); /* a sanitizer's runtime, ahead of the library */
		char v[2 * PATH_MAX + 2];
		snprintf(v, sizeof(v), "%s%s%s", pre && *pre ? pre : "", pre && *pre ? ":" : "", lib);
		setenv("LD_PRELOAD", v, 1);
		execl("/proc/self/exe", "test_495_exit_paths", (char *)NULL);
		_exit(127);
	}
	REQUIRE(pid > 0);
	int status = 0, done = 0;
	while (!done && harness_now_ms() - start < CHILD_LIMIT_MS) {
		done = waitpid(pid, &status, WNOHANG) == pid;
		if (!done)
			usleep(20 * 1000);
	}
	if (!done) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	printf("  the host exited after %ld ms\n", harness_now_ms() - start);
	CHECK(done); /* a fork that waited for the parked lock would hang here */
	CHECK(done && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char *text = harness_read_file(out, NULL);
	CHECK(text != NULL && strstr(text, "the fork in the host's exit handler ran and was reaped") != NULL);
	if (text)
		fputs(text, stdout);
	free(text);
	harness_remove_tree(dir);
}

int main(void)
{
	if (getenv("T495_HOST") != NULL)
		return host_main();
	RUN(fork_in_an_exit_handler);
	return TEST_EXIT();
}
