/*
 * Store locks under contention and failure: 8 processes racing, a holder killed with SIGKILL, a holder that
 * stops refreshing, a record left by "another host", refresh keeping a lock, and threads of one process.
 */
#include "store/store.h"
#include "util/err.h"
#include "tests/test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPROC 8
#define ROUNDS 40

static char rootp[64];
static char logp[128];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void log_line(int fd, char what, int i)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%c %d %d\n", what, (int)getpid(), i);
	if (write(fd, line, (size_t)n) != n)
		_exit(3);
}

static int racer(void)
{
	struct at_store *s = NULL;
	int fd = open(logp, O_WRONLY | O_APPEND | O_CLOEXEC);

	if (fd < 0 || at_store_open_file(&s, rootp) != 0)
		return 2;
	srand((unsigned)getpid());
	for (int i = 0; i < ROUNDS; i++) {
		if (at_store_lock(s, "race", 30, 60000) != 0)
			return 4;
		log_line(fd, 'E', i);
		usleep((useconds_t)(rand() % 500));
		log_line(fd, 'L', i);
		if (at_store_unlock(s, "race") != 0)
			return 5;
	}
	at_store_close(s);
	close(fd);
	return 0;
}

static void test_race(void)
{
	pid_t kids[NPROC];
	int fd = open(logp, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	close(fd);
	for (int i = 0; i < NPROC; i++) {
		kids[i] = fork();
		REQUIRE(kids[i] >= 0);
		if (kids[i] == 0)
			_exit(racer());
	}
	for (int i = 0; i < NPROC; i++) {
		int st = 0;
		CHECK(waitpid(kids[i], &st, 0) == kids[i]);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	/* every E is followed by the L of the same process: never two holders at once */
	FILE *f = fopen(logp, "r");
	REQUIRE(f != NULL);
	char what, what2;
	int pid, pid2, i1, i2, pairs = 0, bad = 0;
	while (fscanf(f, " %c %d %d", &what, &pid, &i1) == 3) {
		if (fscanf(f, " %c %d %d", &what2, &pid2, &i2) != 3 || what != 'E' || what2 != 'L' || pid != pid2 ||
		    i1 != i2) {
			bad++;
			break;
		}
		pairs++;
	}
	fclose(f);
	CHECK_INT(bad, ==, 0);
	CHECK_INT(pairs, ==, NPROC * ROUNDS);
	printf("  %d lock holds by %d processes, never overlapping\n", pairs, NPROC);
}

/* A child that takes name with lease_s, tells the parent, then sleeps (refreshing every refresh_ms if > 0). */
static pid_t holder(const char *name, int lease_s, int refresh_ms)
{
	int p[2];
	char c = 0;
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		struct at_store *s = NULL;
		close(p[0]);
		if (at_store_open_file(&s, rootp) != 0 || at_store_lock(s, name, lease_s, 0) != 0)
			_exit(2);
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		for (;;) {
			if (refresh_ms > 0) {
				usleep((useconds_t)refresh_ms * 1000);
				if (at_store_lock_refresh(s, name, lease_s) != 0)
					_exit(4);
			} else {
				pause();
			}
		}
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	return pid;
}

static void test_killed_holder(void)
{
	struct at_store *s = NULL;
	REQUIRE(at_store_open_file(&s, rootp) == 0);
	pid_t h = holder("crash", 300, 0);
	REQUIRE(h > 0);
	CHECK_INT(at_store_lock(s, "crash", 30, 0), ==, AT_E_LOCKED);
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	/* same host, holder gone: free at once, long before the 300 s lease */
	double t0 = now_s();
	CHECK_OK(at_store_lock(s, "crash", 30, 0));
	CHECK(now_s() - t0 < 1.0);
	CHECK_OK(at_store_unlock(s, "crash"));
	at_store_close(s);
}

static void test_stalled_holder(void)
{
	struct at_store *s = NULL;
	REQUIRE(at_store_open_file(&s, rootp) == 0);
	/* alive but not refreshing: free once its 2 s lease ends, not before */
	double t0 = now_s();
	pid_t h = holder("stall", 2, 0);
	REQUIRE(h > 0);
	CHECK_INT(at_store_lock(s, "stall", 30, 500), ==, AT_E_LOCKED);
	CHECK_OK(at_store_lock(s, "stall", 30, 5000));
	double waited = now_s() - t0;
	CHECK(waited >= 1.0 && waited < 4.5);
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	CHECK_OK(at_store_unlock(s, "stall"));

	/* refreshing keeps it held past its lease */
	h = holder("fresh", 2, 150);
	REQUIRE(h > 0);
	CHECK_INT(at_store_lock(s, "fresh", 30, 3500), ==, AT_E_LOCKED);
	kill(h, SIGKILL);
	waitpid(h, NULL, 0);
	CHECK_OK(at_store_lock(s, "fresh", 30, 0)); /* and dead: free at once */
	CHECK_OK(at_store_unlock(s, "fresh"));
	at_store_close(s);
}

static int write_record(const char *name, const char *node, long long pid, long long lease_expires)
{
	char path[256], text[512];
	snprintf(path, sizeof path, "%s/.locks/%s.lock", rootp, name);
	int n = snprintf(text, sizeof text,
			 "{\"v\":1,\"host\":\"otherhost\",\"node\":\"%s\",\"pid\":%lld,\"start\":1,"
			 "\"lease_expires\":%lld,\"token\":\"0123456789abcdef0123456789abcdef\"}",
			 node, pid, lease_expires);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		return -1;
	int ok = write(fd, text, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -1;
}

static void test_foreign_host(void)
{
	struct at_store *s = NULL;
	REQUIRE(at_store_open_file(&s, rootp) == 0);
	/* a holder on another host: its pid means nothing here (pid 999999 is not running), only the lease counts */
	long long until = (long long)time(NULL) + 2;
	REQUIRE(write_record("foreign", "other-boot:pid:[1]", 999999, until) == 0);
	CHECK_INT(at_store_lock(s, "foreign", 30, 0), ==, AT_E_LOCKED);
	CHECK_INT(at_store_lock(s, "foreign", 30, 300), ==, AT_E_LOCKED);
	CHECK_OK(at_store_lock(s, "foreign", 30, 5000));
	/* time() reads a coarse clock that may lag the lease check's CLOCK_REALTIME by a tick: compare like with like */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	CHECK((long long)now.tv_sec >= until);
	/* we hold it now: the foreign record was replaced with ours */
	struct at_store *t = NULL;
	REQUIRE(at_store_open_file(&t, rootp) == 0);
	CHECK_INT(at_store_lock(t, "foreign", 30, 0), ==, AT_E_LOCKED);
	CHECK_OK(at_store_unlock(s, "foreign"));
	CHECK_OK(at_store_lock(t, "foreign", 30, 0));
	at_store_close(t);
	/* the old holder's unlock after a takeover does not release the new holder's lock */
	CHECK_OK(at_store_lock(s, "lost", 1, 0));
	REQUIRE(write_record("lost", "other-boot:pid:[1]", 1, (long long)time(NULL) + 60) == 0);
	CHECK_INT(at_store_lock_refresh(s, "lost", 30), ==, AT_E_LOCKED);
	CHECK_INT(at_store_unlock(s, "lost"), ==, AT_E_STATE);
	char path[256];
	snprintf(path, sizeof path, "%s/.locks/lost.lock", rootp);
	CHECK(access(path, F_OK) == 0);
	/* a garbage record is treated as free */
	int fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0 && write(fd, "{not json", 9) == 9);
	close(fd);
	CHECK_OK(at_store_lock(s, "lost", 30, 0));
	CHECK_OK(at_store_unlock(s, "lost"));
	at_store_close(s);
}

/* Threads: one shared store object and one object per thread, all racing for one lock. */
#define NTHREADS 6
#define TROUNDS 30
static struct at_store *shared_store;
static int inside, max_inside, total;

static void *thread_main(void *arg)
{
	long idx = (long)arg;
	struct at_store *own = NULL, *s;
	if (idx % 2 == 0) {
		if (at_store_open_file(&own, rootp) != 0)
			return (void *)1;
		s = own;
	} else {
		s = shared_store;
	}
	for (int i = 0; i < TROUNDS; i++) {
		if (at_store_lock(s, "threads", 30, 60000) != 0)
			return (void *)2;
		int v = ++inside; /* plain ints: only the store lock protects them */
		if (v > max_inside)
			max_inside = v;
		usleep(100);
		total++;
		inside--;
		if (at_store_unlock(s, "threads") != 0)
			return (void *)3;
	}
	at_store_close(own);
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[NTHREADS];
	REQUIRE(at_store_open_file(&shared_store, rootp) == 0);
	for (long i = 0; i < NTHREADS; i++)
		REQUIRE(pthread_create(&th[i], NULL, thread_main, (void *)i) == 0);
	for (int i = 0; i < NTHREADS; i++) {
		void *r = NULL;
		pthread_join(th[i], &r);
		CHECK(r == NULL);
	}
	CHECK_INT(max_inside, ==, 1);
	CHECK_INT(total, ==, NTHREADS * TROUNDS);
	at_store_close(shared_store);
}

int main(void)
{
	snprintf(rootp, sizeof rootp, "/tmp/at-locks-XXXXXX");
	if (mkdtemp(rootp) == NULL)
		return 1;
	snprintf(logp, sizeof logp, "%s.log", rootp);
	RUN(test_race);
	RUN(test_killed_holder);
	RUN(test_stalled_holder);
	RUN(test_foreign_host);
	RUN(test_threads);
	int rc = TEST_EXIT();
	if (rc == 0) {
		char cmd[256];
		snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", rootp, logp);
		if (system(cmd) != 0)
			return 1;
	}
	return rc;
}
