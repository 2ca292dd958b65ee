/*
 * The region stays read-only to the workers when the master itself publishes (issue 9, item 3). With no
 * autotls-manager beside the library (here: a folder holding only links to libautotls.so and
 * libautotls-manager.so), every start of a manager process fails and nginx's root master leads in-process:
 * it reopens the region read-write for itself (root may) and maps it MADV_DONTFORK, so the workers it forks
 * after that, at a HUP reload, inherit only the read-only view. The worker probe (tests/harness/worker_probe.h)
 * checks every worker, old and new: one read-only mapping, no writable descriptor, every way to write refused;
 * the master does hold a writable mapping (it publishes), and every handshake verifies before and after.
 * Built without MADV_DONTFORK it fails: the master held two writable mappings (its own and the one the
 * daemonising parent made before it forked) and every worker, old and new, one (the store and mprotect worked).
 */
#include "tests/harness/proc.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/harness/worker_probe.h"
#include "tests/test.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_MANAGER "cannot start"

static struct shim_env e;
static char lib[PATH_MAX];

/* Mappings of the region in pid's /proc/<pid>/maps, and how many of them are writable. */
static int region_maps(pid_t pid, int *writable)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	int n = 0;
	*writable = 0;
	while (f && fgets(line, sizeof(line), f)) {
		const char *p = strchr(line, '/');
		if (p == NULL || strncmp(p, "/memfd:autotls (deleted)", 24) != 0)
			continue;
		n++;
		*writable += strchr(line, ' ')[2] == 'w';
	}
	if (f)
		fclose(f);
	return n;
}

/* A folder with the two libraries and no autotls-manager: the preload finds its manager beside itself. */
static int libs_without_manager(void)
{
	char dir[400], link[480], target[PATH_MAX];
	const char *slash = strrchr(e.lib, '/');
	snprintf(dir, sizeof(dir), "%s/lib", e.dir);
	snprintf(lib, sizeof(lib), "%s/libautotls.so", dir);
	snprintf(link, sizeof(link), "%s/libautotls-manager.so", dir);
	snprintf(target, sizeof(target), "%.*s/libautotls-manager.so", slash ? (int)(slash - e.lib) : 0, e.lib);
	return mkdir(dir, 0755) == 0 && chmod(dir, 0755) == 0 && symlink(e.lib, lib) == 0 && symlink(target, link) == 0
		       ? 0
		       : -1;
}

static void master_publishes_workers_stay_read_only(void)
{
	char lines[8][WORKER_PROBE_LINE];
	int w = 0;
	int nmaps = region_maps(e.srv.pid, &w);
	printf("  master %d: %d mappings of the region, %d writable; %d '%s' line(s)\n", (int)e.srv.pid, nmaps, w,
	       shim_log_count(&e, NO_MANAGER, NULL), NO_MANAGER);
	CHECK(shim_log_count(&e, NO_MANAGER, NULL) >= 1);
	CHECK_INT(w, ==, 1); /* the in-process leader's own mapping */
	int n = worker_probe_wait(lines, 8, 2, 10000);
	CHECK_INT(n, ==, 2);
	for (int i = 0; i < n; i++)
		worker_probe_check(lines[i]);
	CHECK_INT(shim_count_verified(&e, 10), ==, 10);

	/* Workers forked by a master that holds a writable mapping. */
	CHECK_OK(server_reload(&e.srv));
	n = worker_probe_wait(lines, 8, 4, 10000);
	CHECK_INT(n, ==, 4);
	for (int i = 2; i < n; i++)
		worker_probe_check(lines[i]);
	harness_sleep_ms(500);
	int ok = shim_count_verified(&e, 20);
	printf("  after the reload: %d/20 verified\n", ok);
	CHECK_INT(ok, ==, 20);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("FAIL %s: needs root (nginx's workers run as www-data only under a root master)\n", __FILE__);
		return 1;
	}
	shim_env_extra[0] = worker_probe_setting();
	if (shim_env_prepare(&e, SERVER_NGINX) != 0 || libs_without_manager() != 0 ||
	    worker_probe_prepare(&e, lib) != 0 || shim_env_server_start(&e) != 0 ||
	    shim_wait_verified(&e, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0)
		return shim_env_setup_failed(&e, __FILE__);
	RUN(master_publishes_workers_stay_read_only);
	return shim_env_exit(&e);
}
