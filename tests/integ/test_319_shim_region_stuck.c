/*
 * A shared region left in the middle of a write (issue 9, item 3): a writer killed during its copy, or a
 * process scribbling on the region, leaves the seqlock odd with a new generation. nginx (master and two
 * workers as www-data) has its certificate; then the test leaves the region that way, through the master's own
 * memfd, and wakes every follower. Before, each follower spun for ever holding the quiesce lock, so the
 * master's fork() never returned (no reload, no respawn) and a ClientHello offering acme-tls/1 hung. Now every
 * process keeps its last good snapshot (handshakes still verify), a HUP reload forks new workers that serve it
 * too, and each process says so once.
 */
#include "tests/harness/region.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/mman.h>

#define STUCK "cannot read the shared region"
#define MAX_KIDS 16

static struct shim_env e;

/* The children of pid named nginx (its workers), up to MAX_KIDS; how many. */
static int workers_of(pid_t pid, pid_t *out)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;
	while (d && n < MAX_KIDS && (de = readdir(d)) != NULL) {
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		char *rp = strrchr(buf, ')');
		int ppid = 0;
		if (rp && strstr(buf, "(nginx)") && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == pid)
			out[n++] = (pid_t)atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

static void stuck_region_keeps_serving_and_forking(void)
{
	struct shm_region *region = harness_region_of(e.srv.pid);
	REQUIRE(region != NULL);
	pid_t before[MAX_KIDS], after[MAX_KIDS];
	int nbefore = workers_of(e.srv.pid, before);
	CHECK_INT(nbefore, ==, 2);

	/* A write that never ends: odd sequence, a new generation, every follower woken. */
	harness_region_leave_mid_write(region);
	harness_sleep_ms(1000);
	int ok_stuck = shim_count_verified(&e, 20);

	/* The master forks new workers on HUP: its manager thread is not stuck in the region. */
	long t0 = harness_now_ms();
	CHECK_OK(server_reload(&e.srv));
	int nafter = 0, fresh = 0;
	while (harness_now_ms() - t0 < 10000) {
		nafter = workers_of(e.srv.pid, after);
		fresh = 0;
		for (int i = 0; i < nafter; i++) {
			int old = 0;
			for (int j = 0; j < nbefore; j++)
				old |= after[i] == before[j];
			fresh += !old;
		}
		if (nafter == 2 && fresh == 2)
			break;
		harness_sleep_ms(100);
	}
	long reload_ms = harness_now_ms() - t0;
	harness_sleep_ms(500);
	int ok_reloaded = shim_count_verified(&e, 20);
	printf("  stuck region: %d/20 verified; reload forked %d new workers in %ld ms; %d/20 verified after; "
	       "%d '%s' line(s)\n", ok_stuck, fresh, reload_ms, ok_reloaded, shim_log_count(&e, STUCK, NULL), STUCK);
	CHECK_INT(ok_stuck, ==, 20);
	CHECK_INT(fresh, ==, 2);
	CHECK_INT(ok_reloaded, ==, 20);
	/* Once per process that read it: the master, two workers, two new workers; at least one. */
	CHECK_INT(shim_log_count(&e, STUCK, NULL), >=, 1);
	CHECK_INT(shim_log_count(&e, STUCK, NULL), <=, 5);
	munmap(region, shm_size(region));
}

int main(void)
{
	if (shim_env_start(&e, SERVER_NGINX) != 0 || shim_wait_verified(&e, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0)
		return shim_env_setup_failed(&e, __FILE__);
	RUN(stuck_region_keeps_serving_and_forking);
	return shim_env_exit(&e);
}
