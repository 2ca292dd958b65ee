/* A server's graceful reload under a stream of handshakes (see shim_reload.h). */
#include "tests/harness/shim_reload.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELOAD_LOOP_MS 4000
#define RELOAD_AT_MS 1000
#define RELOAD_GAP_MS 20
#define RELOAD_MAX_PIDS 64

/* The processes of group pgid (from /proc), at most cap; their count. */
static int group_pids(pid_t pgid, pid_t *pids, int cap)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < cap) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || getpgid((pid_t)pid) != pgid)
			continue;
		pids[n++] = (pid_t)pid;
	}
	closedir(d);
	return n;
}

/* How many of now[] are not in before[]. */
static int new_pids(const pid_t *before, int nb, const pid_t *now, int nn)
{
	int fresh = 0;

	for (int i = 0; i < nn; i++) {
		int seen = 0;
		for (int j = 0; j < nb && !seen; j++)
			seen = now[i] == before[j];
		fresh += !seen;
	}
	return fresh;
}

void shim_check_reload(struct shim_env *e)
{
	pid_t before[RELOAD_MAX_PIDS], after[RELOAD_MAX_PIDS];
	int nb, na = 0, fresh = 0, handshakes = 0, failures = 0, sent = 0, ok = 0, orders;
	struct tls_client_result r;
	char serial[80];
	long t0, deadline, last_failure = -1;

	memset(&r, 0, sizeof(r));
	REQUIRE(tls_client_connect(e->port, SHIM_NAME, NULL, 0, e->p.issuing_root_file, NULL, &r) == 0);
	snprintf(serial, sizeof(serial), "%s", r.serial);
	orders = pebble_count_orders(&e->p);
	REQUIRE(e->srv.pgid > 1);
	nb = group_pids(e->srv.pgid, before, RELOAD_MAX_PIDS);
	t0 = harness_now_ms();
	while (harness_now_ms() - t0 < RELOAD_LOOP_MS) {
		if (!sent && harness_now_ms() - t0 >= RELOAD_AT_MS) {
			CHECK_OK(server_reload(&e->srv));
			sent = 1;
		}
		memset(&r, 0, sizeof(r));
		handshakes++;
		if (shim_try_verified(e, SHIM_NAME, NULL, handshakes % 2 ? TLS1_3_VERSION : TLS1_2_VERSION, &r) != 0) {
			if (failures++ < 3) {
				/* What is served instead: the same name again, without verification. */
				struct tls_client_result u;
				memset(&u, 0, sizeof(u));
				tls_verify_quiet = 1;
				tls_client_connect(e->port, SHIM_NAME, NULL, 0, NULL, NULL, &u);
				tls_verify_quiet = 0;
				fprintf(stderr, "  reload: handshake %d failed after %ld ms (the next one unverified: %s)\n",
					handshakes, harness_now_ms() - t0, u.subject[0] ? u.subject : "no handshake");
			}
			last_failure = harness_now_ms() - t0;
		} else if (strcmp(r.serial, serial) != 0 && failures++ < 3) {
			fprintf(stderr, "  reload: handshake %d served serial %s, not %s\n", handshakes, r.serial,
				serial);
		}
		harness_sleep_ms(RELOAD_GAP_MS);
	}
	fprintf(stderr, "  %s reload: %d handshakes, %d failed (the last at %ld ms; reload sent at %d ms)\n",
		server_kind_name(e->kind), handshakes, failures, last_failure, RELOAD_AT_MS);
	CHECK(sent);
	CHECK_INT(failures, ==, 0);
	CHECK_INT(handshakes, >=, 50);
	CHECK(server_alive(&e->srv));
	/* The new processes: nginx's and Apache's new workers / children, HAProxy's new worker. */
	deadline = harness_now_ms() + 5000;
	do {
		na = group_pids(e->srv.pgid, after, RELOAD_MAX_PIDS);
		fresh = new_pids(before, nb, after, na);
		if (fresh > 0)
			break;
		harness_sleep_ms(100);
	} while (harness_now_ms() < deadline);
	fprintf(stderr, "  %s reload: %d processes before, %d after, %d new\n", server_kind_name(e->kind), nb, na,
		fresh);
	CHECK_INT(fresh, >=, 1);
	/* Old workers finish in the background; give them a moment, then many connections all verified. */
	harness_sleep_ms(1000);
	for (int i = 0; i < 20; i++) {
		memset(&r, 0, sizeof(r));
		ok += tls_client_connect(e->port, SHIM_NAME, NULL, 0, e->p.issuing_root_file, NULL, &r) == 0 &&
		      strcmp(r.serial, serial) == 0;
	}
	CHECK_INT(ok, ==, 20);
	CHECK_INT(pebble_count_orders(&e->p), ==, orders);
}
