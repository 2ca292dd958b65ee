/*
 * The host manager (`autotls-manager --host`, shim/manager/host_service.c) for the tests of servers that cannot
 * lead their store (test_391..): started from the folder of the preload a shim_env puts under servers, with the
 * env's settings (AUTOTLS_DOMAINS, STORAGE, CA, CA_ROOTS, HTTP_PORT, ...) but no LD_PRELOAD, and a log of its
 * own, <dir>/host-manager.log. It runs as root, the leader of its own process group, and dies with the test.
 */
#ifndef AUTOTLS_TESTS_HARNESS_HOST_MANAGER_H
#define AUTOTLS_TESTS_HARNESS_HOST_MANAGER_H

#include "tests/harness/shim_env.h"

#include <sys/types.h>

struct host_manager {
	pid_t pid;
	char log[360];
	char e_log[380];
	char *envp[20];
};

/* Starts it for e (prepared: shim_env_prepare). extra: up to four more "NAME=value" (NULL-terminated, may be
 * NULL; borrowed for the life of the process). 0 or -1 (why printed). */
int host_manager_start(struct host_manager *h, const struct shim_env *e, char *const *extra);

/* Waits until its log says it published the certificate for name the n-th time (1: the first issuance, 2: the
 * first renewal); ms waited, or -1 after timeout_ms. */
long host_manager_wait_published(const struct host_manager *h, const char *name, int n, long timeout_ms);

/* Starts it (as host_manager_start) and waits for its first issuance of name (as host_manager_wait_published),
 * saying on stderr how long it took. ms waited, or -1 when it did not start or did not issue in timeout_ms. */
long host_manager_issue(struct host_manager *h, const struct shim_env *e, char *const *extra, const char *name,
			long timeout_ms);

/* SIGTERM, then its process group. Safe twice. */
void host_manager_stop(struct host_manager *h);

#endif
