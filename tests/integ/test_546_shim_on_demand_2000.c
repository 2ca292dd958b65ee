/*
 * The 2,000th on-demand name is served (issue 9, acceptance 7), under nginx (master + 2 workers) with
 * AUTOTLS_ON_DEMAND=1 and AUTOTLS_ALLOW=*.od.example.test.
 *
 * Honest scope: 2,000 issuances against Pebble would take far longer than make test's budget at the on-demand
 * rate (10 a minute), so the first STORED names are certificates a test CA signed, written into the server's
 * store through the store's API before the server starts, the way a long-running server's store would hold the
 * names it issued before a restart; the manager loads and publishes them at start. The last names are then
 * issued by Pebble (VA sleep off) on a handshake, as any new on-demand name is, and the 2,000th is served.
 *
 * What it shows: every process serves all of them (samples verify against the test CA, the new ones against
 * Pebble's root); a publish after 1,999 names costs each process what changed only (its sync says "1 record(s)
 * changed", where before every process parsed every record again on each publish); then, idle with 2,000
 * on-demand certificates over three renewal sweeps (the tests' scale of 10 makes the 60-second sweep 6 s, so
 * 19 s here stand for three idle minutes), nothing is written into the region: its generation and its count of
 * slot writes stay the same (an unchanged certificate is never published again).
 */
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/certgen.h"
#include "tests/harness/proc.h"
#include "tests/harness/region.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>

#define TOTAL 2000
#define ISSUED 2 /* the last names, issued by Pebble */
#define STORED (TOTAL - ISSUED)
#define SWEEP_MS 6000 /* the on-demand renewal sweep (60 s) at AUTOTLS_TEST_BACKOFF_SCALE=10 */

static struct shim_env env;
static char test_root[400];

static void name_of(char *out, size_t cap, int i)
{
	snprintf(out, cap, "n%d.od.example.test", i); /* 1-based: n2000 is the 2,000th */
}

/* STORED certificates under one test intermediate into the server's store, for Pebble's CA component. */
static int seed_store(void)
{
	struct at_store *st = NULL;
	char ca[256];
	X509 *root = NULL, *inter = NULL;
	EVP_PKEY *root_key = NULL, *inter_key = NULL;
	int rc = -1;
	snprintf(test_root, sizeof(test_root), "%s/test-root.pem", env.dir);
	if (at_store_open_file(&st, env.store) != 0 || at_store_ca_component(ca, sizeof(ca), env.p.directory_url) != 0 ||
	    harness_cert_make(&root, &root_key, "test 546 root", NULL, NULL, 1, NULL, NULL, 30) != 0 ||
	    harness_cert_make(&inter, &inter_key, "test 546 intermediate", NULL, NULL, 1, root, root_key, 30) != 0 ||
	    harness_write_cert_pem(test_root, root) != 0)
		goto out;
	size_t il = 0;
	char *ipem = harness_cert_pem(inter, &il);
	for (int i = 1; ipem != NULL && i <= STORED; i++) {
		char name[64];
		X509 *leaf = NULL;
		EVP_PKEY *key = NULL;
		name_of(name, sizeof(name), i);
		if (harness_cert_make(&leaf, &key, name, name, NULL, 0, inter, inter_key, 30) != 0)
			break;
		size_t ll = 0, kl = 0;
		char *lpem = harness_cert_pem(leaf, &ll), *kpem = harness_key_pem(key, &kl), *chain = malloc(ll + il);
		int ok = 0;
		if (lpem && kpem && chain) {
			memcpy(chain, lpem, ll);
			memcpy(chain + ll, ipem, il);
			char *names[] = { name };
			struct at_cert_record rec = { .key_pem = kpem, .key_len = kl, .chain_pem = chain,
						      .chain_len = ll + il, .names = names, .nnames = 1 };
			ok = at_cert_record_save(st, ca, &rec) == 0;
		}
		free(lpem);
		free(kpem);
		free(chain);
		X509_free(leaf);
		EVP_PKEY_free(key);
		if (!ok)
			break;
		if (i == STORED)
			rc = 0;
	}
	free(ipem);
out:
	if (st)
		at_store_close(st);
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	return rc;
}

/* Polls until name verifies against root_file (NULL: Pebble's root); the elapsed ms or -1. */
static long until_served(const char *name, const char *root_file, long timeout_ms)
{
	long t0 = harness_now_ms();
	struct tls_client_result r;
	while (harness_now_ms() - t0 < timeout_ms) {
		int rc = root_file ? shim_try_root(&env, name, NULL, 0, root_file, &r)
				   : shim_try_verified(&env, name, NULL, 0, &r);
		if (rc == 0)
			return harness_now_ms() - t0;
		harness_sleep_ms(100);
	}
	return -1;
}

static void the_2000th_name_is_served(void)
{
	char name[64];
	/* The stored ones, loaded at start (in the store's order, in slices that let the managed name's issuance
	 * run meanwhile: the load is over when on-demand says it is on): the last of them, then a sample across
	 * the range (two workers). */
	long load_wait_ms = shim_log_wait(&env, "on-demand issuance is on", NULL, 1, 60000);
	name_of(name, sizeof(name), STORED);
	long loaded_ms = until_served(name, test_root, 60000);
	int sample_ok = 0;
	for (int i = 1; i <= 20; i++) {
		name_of(name, sizeof(name), 1 + (i * 97) % STORED);
		sample_ok += until_served(name, test_root, 2000) >= 0;
	}
	int one_changed_before = shim_log_count(&env, "(1 record(s) changed)", NULL);
	/* The last ones: new names, issued by Pebble on a handshake. */
	long issue_ms[ISSUED];
	for (int k = 0; k < ISSUED; k++) {
		name_of(name, sizeof(name), STORED + 1 + k);
		issue_ms[k] = until_served(name, NULL, SHIM_ISSUE_TIMEOUT_MS);
	}
	harness_sleep_ms(500);
	int one_changed = shim_log_count(&env, "(1 record(s) changed)", NULL) - one_changed_before;
	/* The stored ones are still all served beside them. */
	name_of(name, sizeof(name), 1);
	int first_still = until_served(name, test_root, 2000) >= 0;
	printf("  %d stored names served %ld ms after the managed one; sample %d/20; the %dth and %dth issued and "
	       "served in %ld and %ld ms; %d sync(s) of one changed record after them; n1 still served: %d\n",
	       STORED, loaded_ms, sample_ok, STORED + 1, TOTAL, issue_ms[0], issue_ms[ISSUED - 1], one_changed,
	       first_still);
	CHECK(load_wait_ms >= 0);
	CHECK(loaded_ms >= 0);
	CHECK_INT(sample_ok, ==, 20);
	for (int k = 0; k < ISSUED; k++)
		CHECK(issue_ms[k] >= 0);
	/* Each publish of a new name: the processes that serve handshakes (master, 2 workers) each read one
	 * changed record, not 2,000. */
	CHECK_INT(one_changed, >=, ISSUED);
	CHECK(first_still);
}

static void idle_nothing_republished(void)
{
	struct shm_region *r = harness_region_of(env.srv.pid);
	REQUIRE(r != NULL);
	const struct shm_dir *d = (const struct shm_dir *)(const void *)r->data;
	uint64_t gen0 = atomic_load(&r->generation), w0 = atomic_load(&d->nwrites);
	harness_sleep_ms(3 * SWEEP_MS + 1000);
	uint64_t gen1 = atomic_load(&r->generation), w1 = atomic_load(&d->nwrites);
	printf("  idle over three renewal sweeps with %d on-demand certificates: generation %llu -> %llu, slot writes "
	       "%llu -> %llu\n", TOTAL, (unsigned long long)gen0, (unsigned long long)gen1, (unsigned long long)w0,
	       (unsigned long long)w1);
	CHECK(gen1 == gen0);
	CHECK(w1 == w0);
	munmap(r, shm_size(r));
}

int main(void)
{
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	shim_env_extra[2] = "AUTOTLS_TEST_BACKOFF_SCALE=10";
	long t0 = harness_now_ms();
	if (shim_env_prepare(&env, SERVER_NGINX) != 0 || seed_store() != 0 || shim_env_server_start(&env) != 0 ||
	    shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0) {
		printf("FAIL %s:setup\n", __FILE__);
		shim_env_dump(&env);
		shim_env_stop(&env);
		return 1;
	}
	printf("  setup (%d certificates stored, nginx started, managed name issued): %ld ms\n", STORED,
	       harness_now_ms() - t0);
	RUN(the_2000th_name_is_served);
	RUN(idle_nothing_republished);
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
	return TEST_EXIT();
}
