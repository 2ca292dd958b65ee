/*
 * The manager writes, the server only reads (issue 9, item 3; acceptance 3). nginx runs its master as root and
 * two workers as www-data under the preload, with on-demand issuance for *.od.example.test; a test helper
 * (tests/integ/worker_probe_preload.c, preloaded after libautotls.so) runs inside each www-data worker as it
 * starts and tries to write the shared region every way a compromised worker could: a store into its mapping,
 * mprotect, a writable mmap and a pwrite of its descriptor, fchmod, reopening it read-write through
 * /proc/self/fd, the master's /proc/<pid>/fd and /proc/self/map_files. Every one must fail, and the worker
 * must hold no writable descriptor or mapping of it (tests/harness/worker_probe.c judges each worker's line).
 * The helper then writes garbage and names outside AUTOTLS_ALLOW into the untrusted channel, and forged
 * restart words: the manager takes every request (its refusals are counted in the log), orders nothing
 * (Pebble's order count does not move), and the server keeps serving its managed name; a HUP reload forks two
 * new workers, which are probed the same way. Against the previous build (a 0777 memfd mapped read-write
 * everywhere) the store, mprotect, the writable mmap, pwrite and the /proc/self/fd reopen all succeeded.
 */
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/harness/worker_probe.h"
#include "tests/test.h"

#include <stdio.h>
#include <unistd.h>

#define REFUSED "a request outside the policy was ignored"

static struct shim_env e;

static void workers_cannot_write_and_order_nothing(void)
{
	char lines[8][WORKER_PROBE_LINE];
	int n = worker_probe_wait(lines, 8, 2, 10000);
	CHECK_INT(n, ==, 2);
	for (int i = 0; i < n; i++)
		worker_probe_check(lines[i]);
	int orders0 = pebble_count_orders(&e.p);

	/* The master still forks: a HUP reload starts two new workers, probed the same way. */
	long t0 = harness_now_ms();
	CHECK_OK(server_reload(&e.srv));
	n = worker_probe_wait(lines, 8, 4, 10000);
	long reload_ms = harness_now_ms() - t0;
	CHECK_INT(n, ==, 4);
	for (int i = 2; i < n; i++)
		worker_probe_check(lines[i]);

	/* The manager takes every request the probes posted and refuses each (five fail the policy's syntax or
	 * allowlist, the sixth is bytes without a NUL); nothing more is ordered. */
	int want = n * WORKER_PROBE_POSTS;
	shim_log_wait(&e, REFUSED, NULL, want, 10000);
	harness_sleep_ms(2000);
	int refused = shim_log_count(&e, REFUSED, NULL);
	int orders1 = pebble_count_orders(&e.p);
	int ok = shim_count_verified(&e, 20);
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
	shim_env_extra[2] = worker_probe_setting();
	if (shim_env_prepare(&e, SERVER_NGINX) != 0 || worker_probe_prepare(&e, NULL) != 0 ||
	    shim_env_server_start(&e) != 0 || shim_wait_verified(&e, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0)
		return shim_env_setup_failed(&e, __FILE__);
	RUN(workers_cannot_write_and_order_nothing);
	return shim_env_exit(&e);
}
