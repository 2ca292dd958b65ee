/*
 * The engine issuing against Pebble through the etcd store on a three-member cluster, with keys sealed
 * (AUTOTLS_STORAGE_KEY): two engines on two store objects (two hosts of a fleet) asked for the same name at once
 * make exactly one order and serve the same certificate; the etcd leader SIGKILLed in the middle of an issuance
 * and the issuance completes; what etcd holds is ciphertext (etcdctl get), a host with a wrong key gets a clear
 * error while the others go on, and a tampered record is refused.
 */
#include "engine/engine.h"
#include "store/certs.h"
#include "store/name.h"
#include "store/store.h"
#include "store/store_etcd.h"
#include "tests/harness/etcd.h"
#include "tests/harness/fetch.h"
#include "tests/harness/issue_env.h"
#include "tests/harness/proc.h"
#include "tests/test.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/keys.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct issue_env env;
static struct etcd_cluster cl;
static char spec[512], keyfile[PATH_MAX + 32], wrongfile[PATH_MAX + 32];
static struct at_store *st[2];
static struct at_engine *eng[2];

struct run {
	struct at_engine *e;
	const char *name;
	int rc, ordered;
	struct at_cert_record rec;
	long done_ms;
};

static void *ensure_thread(void *arg)
{
	struct run *r = arg;
	const char *names[] = { r->name };
	r->rc = at_engine_ensure(r->e, names, 1, &env.s_http, 1, 0, &r->rec, &r->ordered);
	r->done_ms = harness_now_ms();
	return NULL;
}

static unsigned long requests(void)
{
	return at_store_etcd_requests(st[0]) + at_store_etcd_requests(st[1]);
}

static void test_two_hosts_one_order(void)
{
	struct run r[2] = { { .e = eng[0], .name = "fleet.example.test" }, { .e = eng[1], .name = "fleet.example.test" } };
	pthread_t t[2];
	const char *names[] = { "fleet.example.test" };
	int before = pebble_count_orders(&env.p);
	unsigned long req0 = requests();
	long t0 = harness_now_ms();
	for (int i = 0; i < 2; i++)
		REQUIRE(pthread_create(&t[i], NULL, ensure_thread, &r[i]) == 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK_OK(r[0].rc);
	CHECK_OK(r[1].rc);
	CHECK_INT(r[0].ordered + r[1].ordered, ==, 1);
	int orders = pebble_count_orders(&env.p) - before;
	CHECK_INT(orders, ==, 1);
	if (r[0].rc == 0 && r[1].rc == 0) {
		CHECK(r[0].rec.chain_len == r[1].rec.chain_len &&
		      memcmp(r[0].rec.chain_pem, r[1].rec.chain_pem, r[0].rec.chain_len) == 0);
		CHECK_OK(issue_env_verify(&env, &r[0].rec, names, 1));
		CHECK_OK(issue_env_verify(&env, &r[1].rec, names, 1));
	}
	printf("  two hosts, one name: %d order(s), both done in %ld ms, %lu etcd requests in all (both hosts)\n",
	       orders, (r[0].done_ms > r[1].done_ms ? r[0].done_ms : r[1].done_ms) - t0, requests() - req0);
	at_cert_record_clear(&r[0].rec);
	at_cert_record_clear(&r[1].rec);
}

static void test_leader_killed_mid_issuance(void)
{
	struct run r = { .e = eng[0], .name = "leader-kill.example.test" };
	const char *names[] = { "leader-kill.example.test" };
	pthread_t t;
	int before = pebble_count_orders(&env.p);
	unsigned long req0 = requests();
	REQUIRE(pthread_create(&t, NULL, ensure_thread, &r) == 0);
	/* The order is placed with the issue lock held: kill the leader then, before the certificate is stored. */
	long deadline = harness_now_ms() + 20000;
	while (pebble_count_orders(&env.p) == before && harness_now_ms() < deadline)
		harness_sleep_ms(5);
	int leader = etcd_cluster_leader(&cl);
	long kill_ms = harness_now_ms();
	CHECK(leader >= 0);
	etcd_cluster_kill(&cl, leader);
	pthread_join(t, NULL);
	CHECK_OK(r.rc);
	CHECK_INT(r.ordered, ==, 1);
	CHECK_INT(pebble_count_orders(&env.p) - before, ==, 1);
	if (r.rc == 0)
		CHECK_OK(issue_env_verify(&env, &r.rec, names, 1));
	printf("  member %d (the leader) SIGKILLed after the order was placed; issuance done %ld ms later, %lu etcd "
	       "requests\n", leader, r.done_ms - kill_ms, requests() - req0);
	at_cert_record_clear(&r.rec);
}

/* The raw value of a key (full etcd key) through a running member's gateway; new buffer, *n bytes. */
static unsigned char *raw_get(const char *full, size_t *n)
{
	char url[96], body[600], *resp = NULL, *k64 = NULL;
	long status = 0;
	unsigned char *out = NULL;
	int m = 0;
	while (m < ETCD_MEMBERS && cl.pid[m] <= 0)
		m++;
	if (m == ETCD_MEMBERS || at_b64_encode(&k64, full, strlen(full)) != 0)
		return NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v3/kv/range", cl.client_port[m]);
	snprintf(body, sizeof body, "{\"key\":\"%s\"}", k64);
	free(k64);
	if (harness_fetch(&status, &resp, NULL, "POST", url, NULL, body, 3000) == 0 && status == 200) {
		char *v = strstr(resp, "\"value\":\"");
		char *e = v ? strchr(v + 9, '"') : NULL;
		if (e && at_b64_decode(&out, n, v + 9, (size_t)(e - v - 9)) != 0)
			out = NULL;
	}
	free(resp);
	return out;
}

static int raw_put(const char *full, const unsigned char *v, size_t n)
{
	char url[96], *k64 = NULL, *v64 = NULL, *body;
	long status = 0;
	int m = 0, rc = -1;
	while (m < ETCD_MEMBERS && cl.pid[m] <= 0)
		m++;
	if (m == ETCD_MEMBERS || at_b64_encode(&k64, full, strlen(full)) != 0 || at_b64_encode(&v64, v, n) != 0)
		goto out;
	body = malloc(strlen(k64) + strlen(v64) + 32);
	if (body) {
		sprintf(body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
		snprintf(url, sizeof url, "http://127.0.0.1:%d/v3/kv/put", cl.client_port[m]);
		rc = harness_fetch(&status, NULL, NULL, "POST", url, NULL, body, 3000) == 0 && status == 200 ? 0 : -1;
		free(body);
	}
out:
	free(k64);
	free(v64);
	return rc;
}

static void test_sealed(void)
{
	char comp[AT_NAME_MAX + 1], key[600], full[700], out[16384], **keys = NULL;
	size_t n = 0, nkeys = 0;
	struct at_cert_record rec;
	const char *ca = at_engine_ca(eng[0]);
	REQUIRE(at_name_to_component(comp, "fleet.example.test") == 0);
	REQUIRE(at_store_key(key, sizeof key, "certificates", ca, comp, "record", NULL) == 0);
	snprintf(full, sizeof full, "t901/%s", key);
	/* What an operator with etcdctl sees: ciphertext, no PEM of any kind. */
	CHECK_OK(etcd_cluster_ctl_get(&cl, full, out, sizeof out, &n));
	CHECK(n > 100 && memcmp(out, "ATSL", 4) == 0);
	CHECK(memmem(out, n, "PRIVATE KEY", 11) == NULL && memmem(out, n, "BEGIN", 5) == NULL);
	/* The account key too. */
	char accounts[600];
	REQUIRE(at_store_key(accounts, sizeof accounts, "accounts", ca, NULL) == 0);
	strcat(accounts, "/");
	CHECK_OK(at_store_list(st[0], accounts, &keys, &nkeys));
	CHECK_INT(nkeys, ==, 1);
	if (nkeys == 1) {
		char acct[700];
		snprintf(acct, sizeof acct, "t901/%skey.pem", keys[0]);
		CHECK_OK(etcd_cluster_ctl_get(&cl, acct, out, sizeof out, &n));
		CHECK(n > 50 && memcmp(out, "ATSL", 4) == 0 && memmem(out, n, "PRIVATE KEY", 11) == NULL);
	}
	at_store_list_free(keys, nkeys);

	/* A host with another key: a clear error there; the others unaffected. A host with no key: the same. */
	struct at_store *wrong = NULL, *none = NULL;
	setenv("AUTOTLS_STORAGE_KEY", wrongfile, 1);
	REQUIRE(at_store_open(&wrong, spec, (gid_t)-1) == 0);
	CHECK_INT(at_cert_record_load(wrong, ca, "fleet.example.test", &rec), ==, AT_E_KEY_MISMATCH);
	unsetenv("AUTOTLS_STORAGE_KEY");
	REQUIRE(at_store_open(&none, spec, (gid_t)-1) == 0);
	CHECK_INT(at_cert_record_load(none, ca, "fleet.example.test", &rec), ==, AT_E_KEY_MISMATCH);
	setenv("AUTOTLS_STORAGE_KEY", keyfile, 1);
	CHECK_OK(at_cert_record_load(st[1], ca, "fleet.example.test", &rec));
	at_cert_record_clear(&rec);
	at_store_close(wrong);
	at_store_close(none);

	/* One byte of the ciphertext changed in etcd: refused, not served. */
	unsigned char *raw = raw_get(full, &n);
	REQUIRE(raw != NULL && n > 200);
	raw[n / 2] ^= 0x01;
	CHECK_OK(raw_put(full, raw, n));
	CHECK_INT(at_cert_record_load(st[0], ca, "fleet.example.test", &rec), ==, AT_E_CRYPTO);
	raw[n / 2] ^= 0x01;
	CHECK_OK(raw_put(full, raw, n));
	CHECK_OK(at_cert_record_load(st[0], ca, "fleet.example.test", &rec));
	at_cert_record_clear(&rec);
	free(raw);
}

static int write_key(const char *path, const char *hex)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ok = fd >= 0 && write(fd, hex, strlen(hex)) == (ssize_t)strlen(hex);
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

int main(void)
{
	long t0 = harness_now_ms();
	if (issue_env_setup(&env, NULL, __FILE__) != 0)
		return 1;
	if (etcd_cluster_start(&cl) != 0 || etcd_cluster_spec(&cl, "t901", spec, sizeof spec) != 0) {
		printf("FAIL %s:setup\n", __FILE__);
		issue_env_stop(&env);
		return 1;
	}
	snprintf(keyfile, sizeof keyfile, "%s/storage.key", cl.workdir);
	snprintf(wrongfile, sizeof wrongfile, "%s/wrong.key", cl.workdir);
	if (write_key(keyfile, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n") != 0 ||
	    write_key(wrongfile, "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n") != 0)
		return 1;
	setenv("AUTOTLS_STORAGE_KEY", keyfile, 1);
	for (int i = 0; i < 2; i++) {
		struct at_engine_config ec = {
			.directory_url = env.p.directory_url,
			.ca_file = env.p.api_root_file,
			.email = "ops@example.test",
			.key_type = AT_KEY_P256,
			.account_key_type = AT_KEY_P256,
			.poll_timeout_ms = 30000,
		};
		char *url = NULL;
		if (at_store_open(&st[i], spec, (gid_t)-1) != 0 || (ec.store = st[i], at_engine_new(&eng[i], &ec)) != 0 ||
		    at_engine_account(eng[i], &url) != 0) {
			printf("FAIL %s:setup\n", __FILE__);
			return 1;
		}
		free(url);
	}
	printf("  Pebble, three etcd members and two engines ready in %ld ms\n", harness_now_ms() - t0);
	RUN(test_two_hosts_one_order);
	RUN(test_leader_killed_mid_issuance);
	RUN(test_sealed);
	for (int i = 0; i < 2; i++) {
		at_engine_free(eng[i]);
		at_store_close(st[i]);
	}
	etcd_cluster_stop(&cl);
	issue_env_stop(&env);
	return TEST_EXIT();
}
