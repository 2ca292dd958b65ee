/*
 * The etcd store against a real three-member cluster (tests/harness/etcd.c): the key/value operations as the
 * file backend's tests ask them, locks on leases across store objects and processes (exclusive, taken over when
 * a holder's lease ends, a write by a holder whose lease ended refused, every lock given back at once by a
 * leaving holder), and a SIGKILLed leader: the next
 * operation goes on through another member.
 */
#include "store/store.h"
#include "store/etcd_watch.h"
#include "store/store_etcd.h"
#include "tests/harness/etcd.h"
#include "tests/harness/proc.h"
#include "tests/test.h"
#include "util/err.h"
#include "util/keys.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct etcd_cluster cl;
static char spec[512];

static struct at_store *open_store(void)
{
	struct at_store *s = NULL;
	if (at_store_open(&s, spec, (gid_t)-1) != 0)
		return NULL;
	return s;
}

static void test_kv(void)
{
	struct at_store *s = open_store();
	char *v = NULL, **keys = NULL;
	size_t n = 0;
	struct at_store_stat st1, st2;
	REQUIRE(s != NULL);
	CHECK_OK(at_store_put(s, "certificates/ca/a.example/record", "one", 3));
	CHECK_OK(at_store_put(s, "certificates/ca/b.example/record", "", 0));
	CHECK_OK(at_store_put(s, "certificates/ca-b/x", "x", 1));
	CHECK_OK(at_store_put(s, "top", "t", 1));
	CHECK_OK(at_store_load(s, "certificates/ca/a.example/record", &v, &n));
	CHECK(n == 3 && v && memcmp(v, "one", 3) == 0 && v[3] == '\0');
	at_secret_free(v, n);
	CHECK_OK(at_store_load(s, "certificates/ca/b.example/record", &v, &n));
	CHECK_INT(n, ==, 0);
	at_secret_free(v, n);
	CHECK_INT(at_store_load(s, "certificates/none", &v, &n), ==, AT_E_NOTFOUND);
	CHECK_INT(at_store_load(s, "../x", &v, &n), ==, AT_E_BADNAME);

	/* Folders once each, as prefixes, sorted; locks never shown. */
	REQUIRE(at_store_lock(s, "visible", 30, 0) == 0);
	CHECK_OK(at_store_list(s, "", &keys, &n));
	CHECK_INT(n, ==, 2);
	if (n == 2) {
		CHECK_STR(keys[0], "certificates/");
		CHECK_STR(keys[1], "top");
	}
	at_store_list_free(keys, n);
	CHECK_OK(at_store_list(s, "certificates/", &keys, &n));
	CHECK_INT(n, ==, 2);
	if (n == 2) {
		CHECK_STR(keys[0], "certificates/ca-b/");
		CHECK_STR(keys[1], "certificates/ca/");
	}
	at_store_list_free(keys, n);
	CHECK_OK(at_store_list(s, "certificates/ca/", &keys, &n));
	CHECK_INT(n, ==, 2);
	if (n == 2) {
		CHECK_STR(keys[0], "certificates/ca/a.example/");
		CHECK_STR(keys[1], "certificates/ca/b.example/");
	}
	at_store_list_free(keys, n);
	CHECK_OK(at_store_list(s, "nothing/", &keys, &n));
	CHECK_INT(n, ==, 0);
	at_store_list_free(keys, n);
	CHECK_OK(at_store_unlock(s, "visible"));

	/* stat: the size, and a later write is newer. */
	CHECK_OK(at_store_stat(s, "top", &st1));
	CHECK_INT(st1.size, ==, 1);
	CHECK_OK(at_store_put(s, "top", "tt", 2));
	CHECK_OK(at_store_stat(s, "top", &st2));
	CHECK_INT(st2.size, ==, 2);
	CHECK(st2.modified > st1.modified);
	CHECK_INT(at_store_stat(s, "absent", &st1), ==, AT_E_NOTFOUND);

	/* A prefix delete takes the folder, not its neighbour "ca-b". */
	CHECK_OK(at_store_del(s, "certificates/ca/"));
	CHECK_INT(at_store_load(s, "certificates/ca/a.example/record", &v, &n), ==, AT_E_NOTFOUND);
	CHECK_OK(at_store_load(s, "certificates/ca-b/x", &v, &n));
	at_secret_free(v, n);
	CHECK_OK(at_store_del(s, "top"));
	CHECK_OK(at_store_del(s, "top"));
	CHECK_INT(at_store_del(s, ""), ==, AT_E_BADNAME);
	printf("  %lu etcd requests for this test's operations\n", at_store_etcd_requests(s));
	at_store_close(s);
}

static void test_locks(void)
{
	struct at_store *a = open_store(), *b = open_store();
	REQUIRE(a != NULL && b != NULL);
	CHECK_OK(at_store_lock(a, "issue-x", 30, 0));
	CHECK_INT(at_store_lock(b, "issue-x", 30, 0), ==, AT_E_LOCKED);
	CHECK_INT(at_store_lock(a, "issue-x", 30, 200), ==, AT_E_LOCKED); /* not recursive */
	CHECK_OK(at_store_lock_refresh(a, "issue-x", 30));
	CHECK_INT(at_store_lock_refresh(b, "issue-x", 30), ==, AT_E_STATE);
	CHECK_INT(at_store_unlock(b, "issue-x"), ==, AT_E_STATE);
	CHECK_OK(at_store_put(a, "under-lock", "a", 1)); /* a fenced write that holds */
	CHECK_OK(at_store_unlock(a, "issue-x"));
	CHECK_OK(at_store_lock(b, "issue-x", 30, 0));
	CHECK_OK(at_store_unlock(b, "issue-x"));

	/* A holder that stops renewing: the lease ends, another takes over, and the old holder can neither write
	 * nor refresh. */
	long t0 = harness_now_ms();
	CHECK_OK(at_store_lock(a, "issue-y", 1, 0));
	CHECK_OK(at_store_lock(b, "issue-y", 30, 8000));
	long took = harness_now_ms() - t0;
	printf("  a 1 s lease that was not renewed was taken over after %ld ms\n", took);
	CHECK(took >= 900 && took < 8000);
	CHECK_INT(at_store_put(a, "under-lock", "stale", 5), ==, AT_E_LOCKED);
	CHECK_INT(at_store_lock_refresh(a, "issue-y", 1), ==, AT_E_LOCKED);
	char *v = NULL;
	size_t n = 0;
	CHECK_OK(at_store_load(b, "under-lock", &v, &n));
	CHECK(n == 1 && v && v[0] == 'a');
	at_secret_free(v, n);
	at_store_close(b); /* releases issue-y */
	CHECK_OK(at_store_lock(a, "issue-y", 30, 0));
	at_store_close(a);
}

/* A leaving process gives back every lock it holds (the leader's fleet lock and the engine's issue lock at a
 * clean exit, shim/manager/fleet_exit.c): another object takes each at once, long before its lease would end. */
static void test_give_back(void)
{
	struct at_store *a = open_store(), *b = open_store();
	unsigned given = 0;
	REQUIRE(a != NULL && b != NULL);
	CHECK_OK(at_store_lock(a, "manager", 60, 0));
	CHECK_OK(at_store_lock(a, "issue-z", 300, 0));
	CHECK_OK(at_store_etcd_give_back(a, 1500, &given));
	CHECK_INT(given, ==, 2);
	CHECK_OK(at_store_lock(b, "manager", 30, 0));
	CHECK_OK(at_store_lock(b, "issue-z", 30, 0));
	CHECK_INT(at_store_lock_refresh(a, "issue-z", 30), ==, AT_E_STATE); /* a holds nothing now */
	CHECK_OK(at_store_etcd_give_back(a, 1500, &given));
	CHECK_INT(given, ==, 0);
	at_store_close(a);
	at_store_close(b);
}

/* Waits up to ms for the watch's count to pass seq; the milliseconds it took, or -1. */
static long watch_wait(struct at_etcd_watch *w, unsigned long seq, long ms)
{
	long t0 = harness_now_ms();
	while (at_etcd_watch_seq(w) == seq && harness_now_ms() - t0 < ms)
		harness_sleep_ms(10);
	return at_etcd_watch_seq(w) != seq ? harness_now_ms() - t0 : -1;
}

/* The watch on one lock's key (the fleet's followers, shim/manager/fleet_watch.c): it counts the key's
 * deletes, by unlock and by a lease that ended, and neither a take (a put) nor another lock's key. */
static void test_lock_watch(void)
{
	struct at_etcd_url u;
	struct at_etcd_watch *w = NULL;
	struct at_store *a = open_store();
	REQUIRE(a != NULL);
	REQUIRE(at_etcd_url_parse(&u, spec) == 0);
	CHECK_INT(at_etcd_watch_lock_start(&w, &u, NULL, "a/b"), ==, AT_E_INVAL);
	REQUIRE(at_etcd_watch_lock_start(&w, &u, NULL, "lw") == 0);
	CHECK(watch_wait(w, 0, 5000) >= 0); /* the stream's creation counts */
	REQUIRE(at_etcd_watch_up(w));
	unsigned long seq = at_etcd_watch_seq(w);
	CHECK_OK(at_store_lock(a, "lw", 30, 0));
	CHECK_OK(at_store_lock(a, "lwx", 30, 0));
	CHECK_OK(at_store_unlock(a, "lwx"));
	CHECK_INT(watch_wait(w, seq, 500), ==, -1); /* a take and another key: nothing */
	CHECK_OK(at_store_unlock(a, "lw"));
	long took = watch_wait(w, seq, 2000);
	printf("  an unlock seen by the lock's watch after %ld ms\n", took);
	CHECK(took >= 0 && took < 1000);
	seq = at_etcd_watch_seq(w);
	long t0 = harness_now_ms();
	CHECK_OK(at_store_lock(a, "lw", 1, 0)); /* not renewed: etcd deletes the key when the lease ends */
	took = watch_wait(w, seq, 5000);
	printf("  a 1 s lease's end seen by the lock's watch %ld ms after the take\n",
	       took >= 0 ? harness_now_ms() - t0 : -1L);
	CHECK(took >= 0);
	at_etcd_watch_stop(w);
	at_store_close(a);
}

#define NPROC 4
#define ROUNDS 10

static int racer(const char *logp)
{
	struct at_store *s = open_store();
	int fd = open(logp, O_WRONLY | O_APPEND | O_CLOEXEC);
	char line[64];
	if (s == NULL || fd < 0)
		return 2;
	for (int i = 0; i < ROUNDS; i++) {
		if (at_store_lock(s, "race", 30, 30000) != 0)
			return 4;
		int k = snprintf(line, sizeof line, "E %d\n", (int)getpid());
		if (write(fd, line, (size_t)k) != k)
			return 3;
		usleep(2000);
		k = snprintf(line, sizeof line, "L %d\n", (int)getpid());
		if (write(fd, line, (size_t)k) != k)
			return 3;
		if (at_store_unlock(s, "race") != 0)
			return 5;
	}
	at_store_close(s);
	close(fd);
	return 0;
}

static void test_race(void)
{
	char logp[PATH_MAX + 32];
	pid_t kids[NPROC];
	snprintf(logp, sizeof logp, "%s/race.log", cl.workdir);
	int fd = open(logp, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	for (int i = 0; i < NPROC; i++) {
		kids[i] = fork();
		REQUIRE(kids[i] >= 0);
		if (kids[i] == 0)
			_exit(racer(logp));
	}
	for (int i = 0; i < NPROC; i++) {
		int st = 0;
		CHECK(waitpid(kids[i], &st, 0) == kids[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	FILE *f = fopen(logp, "r");
	REQUIRE(f != NULL);
	char w1, w2;
	int p1, p2, pairs = 0, bad = 0;
	while (fscanf(f, " %c %d %c %d", &w1, &p1, &w2, &p2) == 4) {
		if (w1 != 'E' || w2 != 'L' || p1 != p2)
			bad++;
		pairs++;
	}
	fclose(f);
	CHECK_INT(bad, ==, 0);
	CHECK_INT(pairs, ==, NPROC * ROUNDS);
}

static void test_leader_killed(void)
{
	struct at_store *s = open_store();
	char *v = NULL;
	size_t n = 0;
	REQUIRE(s != NULL);
	CHECK_OK(at_store_lock(s, "held-across", 30, 0));
	int leader = etcd_cluster_leader(&cl);
	REQUIRE(leader >= 0);
	long t0 = harness_now_ms();
	etcd_cluster_kill(&cl, leader);
	CHECK_OK(at_store_put(s, "after-kill", "k", 1));
	long took = harness_now_ms() - t0;
	printf("  member %d (the leader) SIGKILLed: the next write went through in %ld ms\n", leader, took);
	CHECK_OK(at_store_load(s, "after-kill", &v, &n));
	at_secret_free(v, n);
	CHECK_OK(at_store_lock_refresh(s, "held-across", 30));
	CHECK_OK(at_store_unlock(s, "held-across"));
	at_store_close(s);
}

int main(void)
{
	long t0 = harness_now_ms();
	if (etcd_cluster_start(&cl) != 0) {
		printf("FAIL %s:setup\n", __FILE__);
		return 1;
	}
	printf("  three etcd members healthy in %ld ms\n", harness_now_ms() - t0);
	if (etcd_cluster_spec(&cl, "t900", spec, sizeof spec) != 0)
		return 1;
	unsetenv("AUTOTLS_STORAGE_KEY");
	RUN(test_kv);
	RUN(test_locks);
	RUN(test_give_back);
	RUN(test_lock_watch);
	RUN(test_race);
	RUN(test_leader_killed);
	t0 = harness_now_ms();
	etcd_cluster_stop(&cl);
	printf("  stopped in %ld ms\n", harness_now_ms() - t0);
	return TEST_EXIT();
}
