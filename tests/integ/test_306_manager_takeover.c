/*
 * kill -9 of the tree's manager process (issue 9, acceptance 2), under nginx (a root master and two workers as
 * www-data) and under python's threaded ssl server (a single process that never reaps children; here the
 * killed manager is not even its child): within 10 s a new manager process leads, the tree logs once that the
 * old one is gone, a 16-second certificate renews twice more while a client loops with no failed handshake, and
 * stopping the server leaves no manager running. See shim_takeover.h.
 */
#include "tests/harness/shim_takeover.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/procfs.h"
#include "tests/harness/servers.h"
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define RENEWALS 2
#define LIMIT_MS 55000

static void takeover_under(enum server_kind kind)
{
	struct shim_env env;
	struct takeover t;

	memset(&t, 0, sizeof(t));
	int started = shim_env_prepare_fault(&env, kind, &takeover_pebble) == 0 && shim_env_server_start(&env) == 0;
	CHECK(started);
	if (started && shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) >= 0) {
		takeover_loop(&env, 3000, RENEWALS, LIMIT_MS, &t);
		takeover_check(&env, &t, RENEWALS);
		/* The new manager renewed: the log says so after the takeover. */
		CHECK(shim_log_count(&env, "renewed the certificate", NULL) + shim_log_count(&env, "obtained", NULL) >= 2);
		takeover_stop_check(&env);
	} else {
		CHECK(!"no first certificate");
	}
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
	if (t.killed > 0)
		waitpid(t.killed, NULL, WNOHANG);
}

static void nginx_manager_killed(void)
{
	takeover_under(SERVER_NGINX);
}

static void python_manager_killed(void)
{
	takeover_under(SERVER_PYTHON);
}

int main(void)
{
	RUN(nginx_manager_killed);
	RUN(python_manager_killed);
	return TEST_EXIT();
}
