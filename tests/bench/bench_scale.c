/*
 * Scale (issue 9 item 4, acceptance 5): many certificates in one server's region.
 *
 *   bench_scale gen STORE CA_URL N ROOT_PEM [MANAGED]
 *       N leaves n<i>.scale.test (and MANAGED when given), P-256, signed by one test intermediate under a test
 *       root, written through the store's API (at_cert_record_save) for CA_URL; the root's PEM to ROOT_PEM.
 *       Every chain is leaf + the same intermediate.
 *   bench_scale inproc STORE CA_URL N ROOT_PEM
 *       In this process (no server): the N stored records published into a private region and synced into the
 *       cache (what every process of a server does), then, each between callgrind client requests (run it
 *       under valgrind --tool=callgrind --instr-atstart=no; a dump per figure):
 *         "sync":      one certificate replaced, and one sync of the cache after it;
 *         "first":     HANDSHAKES full TLS 1.3 handshakes in memory for names not used before, whose server side
 *                      looks the name up in the cache and uses what it finds (as the preload's hook does: the
 *                      record is parsed on this first use);
 *         "handshake": the same names again (the steady state).
 *       Prints the wall-clock time of the first sync and of the measured sync.
 */
#include "shim/manager/publish.c" /* the writer's side, into its private region; the manager's own files */
#include "shim/manager/quiesce.c" /* mgr_host */
#include "shim/manager/refusal.c"
#include "shim/manager/sync.c"
#include "shim/manager/seen.c" /* what sync notes for `autotls status` */
#include "shim/preload/cache.c"
#include "shim/shm.c"
#include "shim/shm_dir.c"
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/certgen.h"
#include "tests/harness/pebble.h" /* harness_read_file */

#include <malloc.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

/* publish.c writes through mgr_region_writable only where the tree shares a region; this bench writes into its
 * private one, so that path is never taken. */
struct shm_region *mgr_region_writable(void)
{
	return NULL;
}

#define HANDSHAKES 20

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int save(struct at_store *st, const char *ca, const char *name, X509 *inter, EVP_PKEY *inter_key)
{
	char *chain = NULL, *kp = NULL;
	size_t cl = 0, kl = 0;
	if (harness_leaf_chain_pem(&chain, &cl, &kp, &kl, name, inter, inter_key, 60) != 0)
		return -1;
	char *names[] = { (char *)name };
	struct at_cert_record rec = { .key_pem = kp, .key_len = kl, .chain_pem = chain, .chain_len = cl, .names = names,
				      .nnames = 1 };
	int rc = at_cert_record_save(st, ca, &rec) == 0 ? 0 : -1;
	free(chain);
	at_secret_free(kp, kl);
	return rc;
}

static int gen(char **argv, int argc)
{
	struct at_store *st = NULL;
	char ca[256];
	long n = atol(argv[4]);
	X509 *root = NULL, *inter = NULL;
	EVP_PKEY *root_key = NULL, *inter_key = NULL;
	if (at_store_open_file(&st, argv[2]) != 0 || at_store_ca_component(ca, sizeof(ca), argv[3]) != 0 ||
	    harness_cert_make(&root, &root_key, "bench scale root", NULL, NULL, 1, NULL, NULL, 60) != 0 ||
	    harness_cert_make(&inter, &inter_key, "bench scale intermediate", NULL, NULL, 1, root, root_key, 60) != 0 ||
	    harness_write_cert_pem(argv[5], root) != 0)
		return 1;
	/* One process per core (signing and the store's writes are CPU-bound on tmpfs): 100,000 certificates in a
	 * few minutes rather than a quarter of an hour. Each writes the names i = w (mod workers) through its own
	 * store handle; the store's own locks keep concurrent writers apart. */
	long workers = sysconf(_SC_NPROCESSORS_ONLN);
	workers = workers < 1 ? 1 : workers > 8 ? 8 : workers;
	int failed = 0;
	for (long w = 0; w < workers; w++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0)
			continue;
		struct at_store *ws = NULL;
		if (at_store_open_file(&ws, argv[2]) != 0)
			_exit(1);
		for (long i = w; i < n; i += workers) {
			char name[64];
			snprintf(name, sizeof(name), "n%ld.scale.test", i);
			if (save(ws, ca, name, inter, inter_key) != 0) {
				fprintf(stderr, "bench_scale: cannot store %s\n", name);
				_exit(1);
			}
		}
		at_store_close(ws);
		_exit(0);
	}
	for (long w = 0; w < workers; w++) {
		int status = 0;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	if (failed)
		return 1;
	if (argc > 6 && save(st, ca, argv[6], inter, inter_key) != 0)
		return 1;
	/* The intermediate's key stays here: the in-process bench signs its replacement certificate with it. */
	char path[600];
	snprintf(path, sizeof(path), "%s.ikey", argv[5]);
	unlink(path);
	if (harness_write_key_pem(path, inter_key) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s.icrt", argv[5]);
	if (harness_write_cert_pem(path, inter) != 0)
		return 1;
	at_store_close(st);
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	return 0;
}

static struct shim_host host = { .version = SHIM_HOST_API_VERSION, .publish = cache_publish,
				 .current = cache_current, .refused_seen = cache_refused_seen };

static int servername_cb(SSL *ssl, int *al, void *arg)
{
	(void)al;
	(void)arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const struct cache_snapshot *s = cache_current();
	const struct cache_cert *c = cache_find_cert(s, sni, time(NULL));
	struct cache_cert parsed;
	if (c != NULL && c->leaf == NULL)
		c = s->resolve(c, &parsed); /* as the preload's hook: parsed on first use */
	if (c == NULL || SSL_use_cert_and_key(ssl, c->leaf, c->key, c->chain, 1) != 1)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

static int handshake(SSL_CTX *cctx, SSL_CTX *sctx, const char *name)
{
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	BIO *cb = NULL, *sb = NULL;
	int ok = 0;
	if (c && s && BIO_new_bio_pair(&cb, 0, &sb, 0) == 1) {
		SSL_set_bio(c, cb, cb);
		SSL_set_bio(s, sb, sb);
		SSL_set_tlsext_host_name(c, name);
		SSL_set_connect_state(c);
		SSL_set_accept_state(s);
		for (int i = 0; i < 20 && !ok; i++) {
			int a = SSL_do_handshake(c), b = SSL_do_handshake(s);
			ok = a == 1 && b == 1;
		}
	}
	SSL_free(c);
	SSL_free(s);
	return ok;
}

__attribute__((noinline)) static int measured_sync(struct shm_region *r)
{
	return mgr_sync_region(r);
}

static int inproc(char **argv)
{
	struct at_store *st = NULL;
	char ca[256], path[600];
	long n = atol(argv[4]);
	/* On-demand on (its idle rule's per-handshake check in resolve, shim/ondemand_idle.h), unless
	 * BENCH_SCALE_NO_TOUCH is set: the two give the check's cost. */
	static struct shim_config cfg;
	cfg.on_demand = getenv("BENCH_SCALE_NO_TOUCH") == NULL;
	cfg.on_demand_idle_days = 30;
	cfg.backoff_divisor = 1;
	host.cfg = &cfg;
	mgr_host = &host;
	if (at_store_open_file(&st, argv[2]) != 0 || at_store_ca_component(ca, sizeof(ca), argv[3]) != 0)
		return 1;
	/* As the manager loads the stored certificates: one batch, then the follower's first sync. */
	mgr_publish_batch(1);
	for (long i = 0; i < n; i++) {
		char name[64];
		struct at_cert_record rec;
		memset(&rec, 0, sizeof(rec));
		snprintf(name, sizeof(name), "n%ld.scale.test", i);
		if (at_cert_record_load(st, ca, name, &rec) != 0 ||
		    mgr_publish_extra(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, name) != 0) {
			fprintf(stderr, "bench_scale: no record for %s (run gen first)\n", name);
			return 1;
		}
		at_cert_record_clear(&rec);
	}
	struct shm_region *r = private_region;
	struct mallinfo2 m0 = mallinfo2();
	double t0 = now_s();
	if (r == NULL || mgr_sync_region(r) != 0)
		return 1;
	double t_all = now_s() - t0;
	struct mallinfo2 m1 = mallinfo2();
	/* A replacement for n0: a new leaf under the same intermediate. */
	snprintf(path, sizeof(path), "%s.ikey", argv[5]);
	size_t kl = 0, cl = 0;
	char *ikey = harness_read_file(path, &kl);
	snprintf(path, sizeof(path), "%s.icrt", argv[5]);
	char *icrt = harness_read_file(path, &cl);
	EVP_PKEY *inter_key = NULL;
	STACK_OF(X509) *inter = NULL;
	if (ikey == NULL || icrt == NULL || at_key_from_pem(&inter_key, ikey, kl) != 0 ||
	    at_chain_parse(&inter, icrt, cl) != 0)
		return 1;
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	if (harness_cert_make(&leaf, &key, "n0.scale.test", "n0.scale.test", NULL, 0, sk_X509_value(inter, 0),
			      inter_key, 60) != 0)
		return 1;
	size_t l1 = 0, kpl = 0;
	char *p1 = harness_cert_pem(leaf, &l1), *kp = harness_key_pem(key, &kpl);
	char *chain = malloc(l1 + cl);
	memcpy(chain, p1, l1);
	memcpy(chain + l1, icrt, cl);
	if (mgr_publish_extra(chain, l1 + cl, kp, kpl, "n0.scale.test") != 0) /* batching: not synced yet */
		return 1;

	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method()), *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(sctx, 0);
	SSL_CTX_set_tlsext_servername_callback(sctx, servername_cb);
	CALLGRIND_START_INSTRUMENTATION;
	CALLGRIND_ZERO_STATS;
	t0 = now_s();
	int rc = measured_sync(r);
	double t_one = now_s() - t0;
	CALLGRIND_DUMP_STATS_AT("sync");
	mgr_publish_batch(0);
	char last[64];
	snprintf(last, sizeof(last), "n%ld.scale.test", n - 1);
	if (rc != 0 || !handshake(cctx, sctx, "n0.scale.test") || !handshake(cctx, sctx, last))
		return 1; /* the new n0 serves; warm */
	/* First use of HANDSHAKES names (each parsed now, lazily), then the same names again (the steady state). */
	int ok = 0;
	for (int round = 0; round < 2; round++) {
		CALLGRIND_ZERO_STATS;
		for (int i = 0; i < HANDSHAKES; i++) {
			char name[64];
			snprintf(name, sizeof(name), "n%ld.scale.test", (long)((1 + i * 7919L) % n));
			ok += handshake(cctx, sctx, name);
		}
		if (round == 0)
			CALLGRIND_DUMP_STATS_AT("first");
		else
			CALLGRIND_DUMP_STATS_AT("handshake");
	}
	CALLGRIND_STOP_INSTRUMENTATION;
	printf("inproc N=%ld: first sync %.3f s, sync after one change %.6f s, %d/%d handshakes; a follower's heap "
	       "after the first sync: %.0f bytes per certificate\n", n, t_all, t_one, ok, 2 * HANDSHAKES,
	       (double)(m1.uordblks - m0.uordblks) / (double)n);
	return ok == 2 * HANDSHAKES ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && strcmp(argv[1], "gen") == 0)
		return gen(argv, argc);
	if (argc == 6 && strcmp(argv[1], "inproc") == 0)
		return inproc(argv);
	fprintf(stderr, "usage: see the comment at the top of bench_scale.c\n");
	return 2;
}
