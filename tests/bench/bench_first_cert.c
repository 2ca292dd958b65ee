/*
 * Time to a first certificate for one name against the local Pebble: from the client's start (a new engine on
 * an empty store: account key, account, order, TLS-ALPN-01, finalize, download) to a chain verified against
 * Pebble's root. Median of RUNS runs, each on a fresh store and a fresh name. Peers measured on this kind of
 * machine (engine issue): uacme 0.52 s, Caddy 0.57 s, certbot 3.4 s, lego 6.3 s.
 */
#include "engine/engine.h"
#include "tests/harness/pebble.h"
#include "tests/harness/responders.h"
#include "tests/harness/tlsverify.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNS 5

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int one_run(struct pebble *p, struct at_solver *solver, int i, double *secs)
{
	char dir[PATH_MAX + 32], name[64];
	snprintf(dir, sizeof(dir), "%s/bench-store-%d", p->workdir, i);
	snprintf(name, sizeof(name), "bench%d.example.test", i);
	const char *names[] = { name };
	struct at_store *store = NULL;
	struct at_engine *e = NULL;
	struct at_cert_record rec;
	int ordered = 0, rc = -1;

	double t0 = now_s();
	if (at_store_open_file(&store, dir) != 0)
		goto out;
	struct at_engine_config ec = { .directory_url = p->directory_url, .ca_file = p->api_root_file,
				       .key_type = AT_KEY_P256, .account_key_type = AT_KEY_P256, .store = store };
	if (at_engine_new(&e, &ec) != 0)
		goto out;
	if (at_engine_ensure(e, names, 1, solver, 1, 0, &rec, &ordered) != 0 || !ordered)
		goto out;
	int v = tls_verify_pair(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, p->issuing_root_file, name);
	*secs = now_s() - t0;
	at_cert_record_clear(&rec);
	rc = v;
out:
	at_engine_free(e);
	at_store_close(store);
	return rc;
}

int main(void)
{
	struct pebble p;
	struct pebble_opts o = { .authz_reuse = 0 };
	struct responder *r = NULL;
	struct at_solver s;
	double t[RUNS];
	int rc = 1;

	if (pebble_start(&p, &o) != 0)
		return 1;
	if (responder_tls_alpn_start(&r, &s, p.tls_port) != 0)
		goto out;
	for (int i = 0; i < RUNS; i++) {
		if (one_run(&p, &s, i, &t[i]) != 0) {
			fprintf(stderr, "run %d failed\n", i);
			goto out;
		}
	}
	qsort(t, RUNS, sizeof(t[0]), cmp);
	printf("first certificate (one name, TLS-ALPN-01, local Pebble): median %.3f s, min %.3f s, max %.3f s "
	       "over %d runs; target < 0.150 s; vs uacme 0.52 s: %.1fx faster\n",
	       t[RUNS / 2], t[0], t[RUNS - 1], RUNS, 0.52 / t[RUNS / 2]);
	rc = 0;
out:
	responder_stop(r);
	pebble_stop(&p);
	return rc;
}
