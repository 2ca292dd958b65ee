/*
 * The manager writes, the server only reads (issue 9, item 3; acceptance 3). nginx runs its master as root and
 * two workers as www-data under the preload, with on-demand issuance for *.od.example.test; a test helper
 * (tests/integ/worker_probe_preload.c, preloaded after libautotls.so) runs inside each www-data worker as it
 * starts and tries to write the shared region every way a compromised worker could: a store into its mapping,
 * mprotect, a writable mmap and a pwrite of its descriptor, fchmod, reopening it read-write through
 * /proc/self/fd, the master's /proc/<pid>/fd and /proc/self/map_files. Every one must fail, and the worker
 * must hold no writable descriptor or mapping of it. The helper then writes garbage and names outside
 * AUTOTLS_ALLOW into the untrusted channel, and forged restart words: the manager takes every request
 * (its refusals are counted in the log), orders nothing (Pebble's order count does not move), and the server
 * keeps serving its managed name; a HUP reload forks two new workers, which are probed the same way.
 * Before this change every attempt on the region succeeded from a worker (it was mapped read-write from a
 * 0777 memfd).
 */
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REFUSED "a request outside the policy was ignored"
#define POSTS_PER_PROBE 6

static struct shim_env e;
static char probe_out[400], e_probe[480];

static int verified_n(int n)
{
	struct tls_client_result r;
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += shim_try_verified(&e, SHIM_NAME, NULL, 0, &r) == 0;
	return ok;
}

/* The probe lines written so far into lines (up to max), how many. */
static int probe_lines(char lines[][1024], int max)
{
	FILE *f = fopen(probe_out, "r");
	int n = 0;
	while (f && n < max && fgets(lines[n], 1024, f))
		n++;
	if (f)
		fclose(f);
	return n;
}

static int has(const char *line, const char *field)
{
	char want[80];
	snprintf(want, sizeof(want), " %s ", field);
	char copy[1100];
	snprintf(copy, sizeof(copy), " %.*s ", (int)strcspn(line, "\n"), line);
	return strstr(copy, want) != NULL;
}

/* Every attempt of one worker's probe failed the way the kernel refuses it. */
static void check_probe(const char *line)
{
	printf("  probe: %s", line);
	CHECK(!has(line, "uid=0"));
	CHECK(has(line, "maps=1") && has(line, "perms=r--s")); /* one mapping of the region, read-only */
	CHECK(has(line, "fds=1") && has(line, "rw_fds=0"));    /* one descriptor of it, O_RDONLY */
	CHECK(has(line, "store=SIGSEGV"));
	CHECK(has(line, "mprotect=EACCES"));
	CHECK(has(line, "mmap_rw=EACCES"));
	CHECK(has(line, "pwrite=EBADF"));
	CHECK(has(line, "fchmod=EPERM"));
	CHECK(has(line, "reopen_self=EACCES"));
	CHECK(has(line, "reopen_master=EACCES"));
	CHECK(has(line, "map_files=EPERM"));
	CHECK(has(line, "chan_perms=rw-s"));
	CHECK(has(line, "posted=6"));
}

static void workers_cannot_write_and_order_nothing(void)
{
	char lines[8][1024];
	long t0 = harness_now_ms();
	int n = 0;
	while ((n = probe_lines(lines, 8)) < 2 && harness_now_ms() - t0 < 10000)
		harness_sleep_ms(100);
	CHECK_INT(n, ==, 2);
	for (int i = 0; i < n; i++)
		check_probe(lines[i]);
	int orders0 = pebble_count_orders(&e.p);

	/* The master still forks: a HUP reload starts two new workers, probed the same way. */
	CHECK_OK(server_reload(&e.srv));
	t0 = harness_now_ms();
	while ((n = probe_lines(lines, 8)) < 4 && harness_now_ms() - t0 < 10000)
		harness_sleep_ms(100);
	long reload_ms = harness_now_ms() - t0;
	CHECK_INT(n, ==, 4);
	for (int i = 2; i < n; i++)
		check_probe(lines[i]);

	/* The manager takes every request the probes posted and refuses each (5 fail the policy's syntax or
	 * allowlist, the sixth is bytes without a NUL); then nothing more is ordered. */
	int want = n * POSTS_PER_PROBE, refused = 0;
	t0 = harness_now_ms();
	while ((refused = shim_log_count(&e, REFUSED, NULL)) < want && harness_now_ms() - t0 < 10000)
		harness_sleep_ms(100);
	harness_sleep_ms(2000);
	refused = shim_log_count(&e, REFUSED, NULL);
	int orders1 = pebble_count_orders(&e.p);
	int ok = verified_n(20);
	printf("  reload: new workers probed after %ld ms; %d of %d posted requests refused by the manager; orders "
	       "%d before, %d after; %d/20 verified\n", reload_ms, refused, want, orders0, orders1, ok);
	CHECK_INT(refused, ==, want);
	CHECK_INT(orders1, ==, orders0);
	CHECK_INT(ok, ==, 20);
	CHECK(server_alive(&e.srv));
}

int main(void)
{
	if (geteuid() != 0) {
		printf("FAIL %s: needs root (nginx's workers run as www-data only under a root master)\n", __FILE__);
		return 1;
	}
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	shim_env_extra[2] = e_probe;
	int rc = shim_env_prepare(&e, SERVER_NGINX);
	if (rc == 0) {
		/* The helper goes after libautotls.so (and the sanitizer's runtime, when there is one). */
		const char *slash = strrchr(e.lib, '/'); /* <abs>/build/libautotls.so */
		size_t used = strlen(e.e_preload);
		snprintf(e.e_preload + used, sizeof(e.e_preload) - used, " %.*s/tests/integ/worker_probe_preload.so",
			 slash ? (int)(slash - e.lib) : 0, e.lib);
		snprintf(probe_out, sizeof(probe_out), "%s/probe.out", e.dir);
		snprintf(e_probe, sizeof(e_probe), "AUTOTLS_TEST_PROBE_OUT=%s", probe_out);
		int fd = open(probe_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (fd < 0 || fchmod(fd, 0666) != 0)
			rc = -1;
		if (fd >= 0)
			close(fd);
	}
	if (rc != 0 || shim_env_server_start(&e) != 0 || shim_wait_verified(&e, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0) {
		printf("FAIL %s:setup\n", __FILE__);
		shim_env_dump(&e);
		shim_env_stop(&e);
		return 1;
	}
	RUN(workers_cannot_write_and_order_nothing);
	if (test_failed_total)
		shim_env_dump(&e);
	shim_env_stop(&e);
	return TEST_EXIT();
}
