/* Killing the tree's manager process while a client loops (see shim_takeover.h). */
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
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

const struct pebble_opts takeover_pebble = {.validity_s = TAKEOVER_VALIDITY_S, .authz_reuse = -1};


/* The one live manager process of e's store, waiting up to ms for it. 0 when none (or several). */
pid_t takeover_manager(const struct shim_env *e, long ms)
{
	long t0 = harness_now_ms();
	pid_t pids[8];
	for (;;) {
		if (procfs_find_managers(e->store, pids, 8) == 1)
			return pids[0];
		if (harness_now_ms() - t0 >= ms)
			return 0;
		harness_sleep_ms(20);
	}
}

/* SIGKILLs the manager process of e's store; its pid, or 0. Not reaped here: whether it is a zombie (our child,
 * when we are a subreaper) or reaped by init, the tree must notice alike. */
pid_t takeover_kill(const struct shim_env *e, struct takeover *t)
{
	pid_t m = takeover_manager(e, 5000);
	if (m > 0) {
		kill(m, SIGKILL);
		fprintf(stderr, "  killed autotls-manager %d\n", (int)m);
	}
	t->killed = m;
	return m;
}

/* After the kill: the next leader, found once the log names it. */
void takeover_watch(const struct shim_env *e, struct takeover *t, long killed_at)
{
	char line[64];
	if (t->takeover_ms > 0 || t->killed <= 0)
		return;
	pid_t pids[8];
	int n = procfs_find_managers(e->store, pids, 8);
	for (int i = 0; i < n && i < 8; i++) {
		snprintf(line, sizeof(line), "managing certificates in pid %d", (int)pids[i]);
		if (pids[i] != t->killed && shim_log_count(e, line, NULL) > 0) {
			t->next = pids[i];
			t->takeover_ms = harness_now_ms() - killed_at;
			fprintf(stderr, "  autotls-manager %d leads %ld ms after the kill\n", (int)pids[i], t->takeover_ms);
			return;
		}
	}
}

/*
 * Loops verified handshakes until `renewals` certificates were seen after the kill, or limit_ms passed. The
 * kill comes kill_at_ms after the loop starts, or (kill_at_ms < 0) after the first renewal.
 */
void takeover_loop(struct shim_env *e, long kill_at_ms, int renewals, long limit_ms, struct takeover *t)
{
	char last[80] = "";
	long t0 = harness_now_ms(), killed_at = 0, next_watch = 0;
	while (harness_now_ms() - t0 < limit_ms && !(killed_at && t->serials_after >= renewals && t->takeover_ms > 0)) {
		struct tls_client_result r;
		memset(&r, 0, sizeof(r));
		t->handshakes++;
		if (tls_client_connect(e->port, SHIM_NAME, NULL, t->handshakes % 2 ? TLS1_3_VERSION : TLS1_2_VERSION,
				       e->p.issuing_root_file, NULL, &r) != 0) {
			t->failures++;
			/* Said here so that the reason follows the FAIL line (the dump after it is long). */
			test_fail("handshake %d failed %ld ms into the loop (%ld ms after the kill): %s", t->handshakes,
				  harness_now_ms() - t0, killed_at ? harness_now_ms() - killed_at : -1L,
				  tls_client_last_error);
		} else if (strcmp(last, r.serial) != 0) {
			snprintf(last, sizeof(last), "%s", r.serial);
			if (killed_at)
				t->serials_after++;
			else
				t->serials_before++;
			fprintf(stderr, "  serial %s after %ld ms\n", r.serial, harness_now_ms() - t0);
		}
		long now = harness_now_ms();
		if (!killed_at && ((kill_at_ms >= 0 && now - t0 >= kill_at_ms) || (kill_at_ms < 0 && t->serials_before >= 2))) {
			killed_at = now;
			if (takeover_kill(e, t) <= 0)
				break;
		}
		if (killed_at && now >= next_watch) {
			takeover_watch(e, t, killed_at);
			next_watch = now + 100;
		}
		harness_sleep_ms(20);
	}
	fprintf(stderr, "  %d handshakes, %d failed; %d certificates before the kill, %d after\n", t->handshakes,
		t->failures, t->serials_before, t->serials_after);
}

/* What every takeover must show: one "is gone" line for the killed manager, a new leader within the limit,
 * renewals after it, no failed handshake. */
void takeover_check(const struct shim_env *e, const struct takeover *t, int renewals)
{
	char gone[96];
	CHECK(t->killed > 0);
	snprintf(gone, sizeof(gone), "manager process (pid %d) is gone", (int)t->killed);
	CHECK_INT(shim_log_count(e, gone, NULL), ==, 1);
	CHECK(t->next > 0);
	CHECK(t->takeover_ms > 0);
	CHECK_INT(t->takeover_ms, <=, TAKEOVER_LIMIT_MS);
	CHECK_INT(t->serials_after, >=, renewals);
	CHECK_INT(t->failures, ==, 0);
}

/* Stops the server; then no manager process of its store may be left (within 5 s). */
void takeover_stop_check(struct shim_env *e)
{
	pid_t pids[8];
	server_stop(&e->srv);
	long t0 = harness_now_ms();
	while (procfs_find_managers(e->store, pids, 8) > 0 && harness_now_ms() - t0 < 5000)
		harness_sleep_ms(20);
	CHECK_INT(procfs_find_managers(e->store, pids, 8), ==, 0);
}

