/*
 * The host manager for tests (see host_manager.h). Owns the process it starts (registered: an atexit handler
 * stops what a test forgot) and nothing else; its log lives in the env's folder.
 */
#include "tests/harness/host_manager.h"
#include "tests/harness/files.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define STOP_GRACE_MS 3000

static void stop_registered(void *h)
{
	host_manager_stop(h);
}

int host_manager_start(struct host_manager *h, const struct shim_env *e, char *const *extra)
{
	char lib[PATH_MAX], exe[PATH_MAX + 32];
	size_t k = 0;

	memset(h, 0, sizeof(*h));
	snprintf(lib, sizeof(lib), "%s", e->lib);
	snprintf(exe, sizeof(exe), "%s/autotls-manager", dirname(lib));
	snprintf(h->log, sizeof(h->log), "%s/host-manager.log", e->dir);
	snprintf(h->e_log, sizeof(h->e_log), "AUTOTLS_LOG=%s", h->log);
	/* The server's settings without the preload (the host manager is no server), its log its own. */
	for (size_t i = 0; e->envp[i] != NULL && k + 6 < sizeof(h->envp) / sizeof(h->envp[0]); i++) {
		if (strncmp(e->envp[i], "LD_PRELOAD=", 11) == 0)
			continue;
		h->envp[k++] = e->envp[i] == e->e_log ? h->e_log : e->envp[i];
	}
	for (size_t i = 0; extra != NULL && extra[i] != NULL && i < 4; i++)
		h->envp[k++] = extra[i];
	h->envp[k] = NULL;
	char *argv[] = {exe, "--host", NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = h->envp,
		.drop_prefix = "LD_PRELOAD",
		.out_path = h->log,
		.own_group = 1,
		.die_with_us = 1,
	};
	if (harness_spawn(&o, &h->pid) != 0)
		return -1;
	return harness_reg_add(h, stop_registered);
}

long host_manager_wait_published(const struct host_manager *h, const char *name, int n, long timeout_ms)
{
	char needle[300];
	long t0 = harness_now_ms();

	snprintf(needle, sizeof(needle), "published the certificate for %s", name);
	while (harness_file_count_lines(h->log, needle) < n) {
		if (harness_now_ms() - t0 > timeout_ms)
			return -1;
		harness_sleep_ms(50);
	}
	return harness_now_ms() - t0;
}

long host_manager_issue(struct host_manager *h, const struct shim_env *e, char *const *extra, const char *name,
			long timeout_ms)
{
	if (host_manager_start(h, e, extra) != 0)
		return -1;
	long ms = host_manager_wait_published(h, name, 1, timeout_ms);
	if (ms >= 0)
		fprintf(stderr, "  host manager: %s issued through HTTP-01 after %ld ms\n", name, ms);
	return ms;
}

void host_manager_stop(struct host_manager *h)
{
	if (h->pid > 0)
		harness_stop_child(h->pid, SIGTERM, STOP_GRACE_MS, 1);
	h->pid = 0;
	harness_reg_remove(h);
}
