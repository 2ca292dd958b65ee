/*
 * On-demand issuance when the request ring is untrusted and the table is under pressure (issue 9), under
 * `openssl s_server` with AUTOTLS_ON_DEMAND=1, AUTOTLS_ALLOW=*.od.example.test and an ask URL that allows names
 * starting with "yes":
 *   - any process of the server can write into the region's request ring (a worker as www-data included), so
 *     this test writes into it itself, through the server's own memfd: names outside the allowlist (one the ask
 *     URL would allow), upper case, unterminated, an address, localhost. The manager checks each again and
 *     orders nothing, nor asks the URL about them;
 *   - an issued name survives 10,000 names the ask URL refuses (more than the table forgets: 4,096) and is
 *     renewed before its 90-second certificate runs out, every handshake for it verified meanwhile;
 *   - once renewed, nothing is published again while nothing changes (three renewal sweeps; the tests' scale of
 *     10 makes a sweep 6 s).
 */
#include "shim/shm.h"
#include "tests/harness/ask.h"
#include "tests/integ/shim_env.h"

#include <dirent.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define ISSUED "yes1.od.example.test"
#define FLOOD 10000
#define SWEEP_MS 6000

static struct shim_env env;
static struct harness_ask ask;
static struct shm_region *region; /* the server's region, mapped here read-write */
static char serial0[80];

/* Maps the region of process pid through its memfd (we are root, or its user). NULL when not found. */
static struct shm_region *map_region_of(pid_t pid)
{
	char dir[64], path[320], target[256];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *de;
	void *p = MAP_FAILED;
	while (d && p == MAP_FAILED && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/memfd:autotls", 14) != 0)
			continue;
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			close(fd);
		}
	}
	if (d)
		closedir(d);
	return p == MAP_FAILED ? NULL : p;
}

/* Writes 256 raw bytes into a free request slot, as a process of the server could, and wakes the manager.
 * Waits (up to 10 s) for a free slot. 0 or -1. */
static int post_raw(const char name[256])
{
	for (int tries = 0; tries < 10000; tries++) {
		for (int i = 0; i < SHM_REQ_SLOTS; i++) {
			uint32_t free_state = 0;
			if (!atomic_compare_exchange_strong(&region->req[i].state, &free_state, 1))
				continue;
			memcpy(region->req[i].name, name, 256);
			atomic_store(&region->req[i].state, 2);
			atomic_fetch_add(&region->req_futex, 1);
			syscall(SYS_futex, (uint32_t *)&region->req_futex, FUTEX_WAKE, 1, NULL, NULL, 0);
			return 0;
		}
		shim_sleep_ms(1);
	}
	return -1;
}

static int post_name(const char *name)
{
	char raw[256];
	memset(raw, 0, sizeof(raw));
	snprintf(raw, sizeof(raw), "%s", name);
	return post_raw(raw);
}

static int log_lines(const char *file, const char *what)
{
	char *text = harness_read_file(file, NULL);
	int n = 0;
	for (const char *p = text; p && (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	free(text);
	return n;
}

/* A handshake for name verified against Pebble's root; its serial into serial (80 bytes). 0 or -1. */
static int verified(const char *name, char *serial)
{
	struct tls_client_result r;
	memset(&r, 0, sizeof(r));
	if (shim_try_verified(&env, name, NULL, 0, &r) != 0)
		return -1;
	snprintf(serial, 80, "%s", r.serial);
	return 0;
}

static void ring_garbage_orders_nothing(void)
{
	char raw[256];
	int orders = pebble_count_orders(&env.p);
	int ignored = log_lines(env.log, "a request outside the policy was ignored");
	CHECK_OK(post_name("yes-outside.example.com")); /* the ask URL would allow it; the allowlist does not */
	CHECK_OK(post_name("YES2.od.example.test"));
	CHECK_OK(post_name("yes3..od.example.test"));
	CHECK_OK(post_name("localhost"));
	CHECK_OK(post_name("10.0.0.1"));
	memset(raw, 'y', sizeof(raw)); /* no NUL at all */
	CHECK_OK(post_raw(raw));
	for (int i = 0; i < 40 && log_lines(env.log, "a request outside the policy was ignored") < ignored + 6; i++)
		shim_sleep_ms(100);
	shim_sleep_ms(500);
	printf("  6 hostile requests: %d ignored by the manager, orders %d -> %d, ask URL calls for them %d\n",
	       log_lines(env.log, "a request outside the policy was ignored") - ignored, orders,
	       pebble_count_orders(&env.p), harness_ask_count(&ask, "yes-outside.example.com"));
	CHECK_INT(log_lines(env.log, "a request outside the policy was ignored"), ==, ignored + 6);
	CHECK_INT(pebble_count_orders(&env.p), ==, orders);
	CHECK_INT(harness_ask_count(&ask, "yes-outside.example.com"), ==, 0);
}

static void issued_name_survives_refused_flood(void)
{
	struct tls_client_result r;
	long t0 = shim_now_ms();
	char serial[80];
	/* The first handshake posts the name; a later one gets its certificate. */
	tls_client_connect(env.port, ISSUED, NULL, 0, NULL, NULL, &r);
	while (verified(ISSUED, serial0) != 0 && shim_now_ms() - t0 < SHIM_ISSUE_TIMEOUT_MS)
		shim_sleep_ms(100);
	REQUIRE(serial0[0] != '\0');
	long issued_at = shim_now_ms();

	char name[64];
	int posted = 0;
	for (int i = 0; i < FLOOD; i++) {
		snprintf(name, sizeof(name), "no%d.od.example.test", i);
		posted += post_name(name) == 0;
	}
	/* The manager asks the URL about each; wait until it has (or the certificate would be half gone). */
	while (harness_ask_count(&ask, "no9999.od.example.test") == 0 && shim_now_ms() - issued_at < 60000)
		shim_sleep_ms(200);
	long flood_ms = shim_now_ms() - issued_at;
	CHECK_INT(posted, ==, FLOOD);
	CHECK_INT(harness_ask_count(&ask, "no9999.od.example.test"), ==, 1);

	/* Renewed before the 90-second certificate runs out, and verified all along. */
	int failed = 0, checks = 0;
	serial[0] = '\0';
	snprintf(serial, sizeof(serial), "%s", serial0);
	while (strcmp(serial, serial0) == 0 && shim_now_ms() - issued_at < 88000) {
		char s[80];
		if (verified(ISSUED, s) == 0)
			snprintf(serial, sizeof(serial), "%s", s);
		else
			failed++;
		checks++;
		shim_sleep_ms(500);
	}
	printf("  %s issued; %d refused names posted and asked about in %ld ms; renewed %s after %ld ms; %d of %d "
	       "handshakes failed\n", ISSUED, posted, flood_ms, strcmp(serial, serial0) ? "" : "NOT",
	       shim_now_ms() - issued_at, failed, checks);
	CHECK(strcmp(serial, serial0) != 0);
	CHECK_INT(failed, ==, 0);
}

static void idle_nothing_republished(void)
{
	int before = log_lines(env.log, "published the on-demand certificate for " ISSUED);
	shim_sleep_ms(3 * SWEEP_MS + 1000);
	int after = log_lines(env.log, "published the on-demand certificate for " ISSUED);
	printf("  over three renewal sweeps: %d -> %d publications of %s\n", before, after, ISSUED);
	CHECK_INT(after, ==, before);
}

int main(void)
{
	if (harness_ask_start(&ask) != 0) {
		printf("FAIL %s:setup\n", __FILE__);
		return 1;
	}
	shim_env_validity_s = 90;
	shim_env_extra[0] = "AUTOTLS_ON_DEMAND=1";
	shim_env_extra[1] = "AUTOTLS_ALLOW=*.od.example.test";
	shim_env_extra[2] = ask.env;
	shim_env_extra[3] = "AUTOTLS_TEST_BACKOFF_SCALE=10";
	if (shim_env_start(&env, SERVER_S_SERVER) != 0 || shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0 ||
	    (region = map_region_of(env.srv.pid)) == NULL) {
		printf("FAIL %s:setup\n", __FILE__);
		shim_env_dump(&env);
		shim_env_stop(&env);
		harness_ask_stop(&ask);
		return 1;
	}
	RUN(ring_garbage_orders_nothing);
	RUN(issued_name_survives_refused_flood);
	RUN(idle_nothing_republished);
	if (test_failed_total)
		shim_env_dump(&env);
	munmap(region, SHM_SIZE);
	shim_env_stop(&env);
	harness_ask_stop(&ask);
	return TEST_EXIT();
}
