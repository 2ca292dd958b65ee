/*
 * The engine's hold hook (engine.h): while at_engine_ensure waits for an issue lock another store object holds,
 * the hook runs about every second (the shim keeps its fleet lock alive there, fleet_issue.c), and the wait still
 * ends at poll_timeout_ms with AT_E_LOCKED; without a hook the wait is the store's one call, as before. No CA is
 * reached: the lock is never had, so nothing is ordered.
 */
#include "engine/engine.h"
#include "store/name.h"
#include "store/store.h"
#include "tests/test.h"
#include "util/clock.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char base[64] = "/tmp/at-holdhook-XXXXXX";
static int calls;

static void count(void *ctx)
{
	(*(int *)ctx)++;
}

static int ensure_waiting(struct at_store *s, int hook, long *took)
{
	struct at_engine_config ec;
	struct at_engine *e = NULL;
	const char *names[] = { "hold.example.test" };
	int ordered = -1;
	memset(&ec, 0, sizeof(ec));
	ec.directory_url = "https://127.0.0.1:9/dir"; /* never asked: the lock is never had */
	ec.store = s;
	ec.poll_timeout_ms = 2600;
	if (hook) {
		ec.hold_hook = count;
		ec.hold_hook_ctx = &calls;
	}
	if (at_engine_new(&e, &ec) != 0)
		return AT_E_INVAL;
	long long t0 = at_clock_ms();
	int rc = at_engine_ensure(e, names, 1, NULL, 0, 0, NULL, &ordered);
	*took = (long)(at_clock_ms() - t0);
	CHECK_INT(ordered, ==, 0);
	at_engine_free(e);
	return rc;
}

static void hook_runs_while_waiting(void)
{
	struct at_store *holder = NULL, *s = NULL;
	char comp[AT_NAME_MAX + 1], lock[AT_NAME_MAX + 16];
	long took = 0;
	REQUIRE(at_store_open_file(&holder, base) == 0);
	REQUIRE(at_store_open_file(&s, base) == 0);
	REQUIRE(at_name_to_component(comp, "hold.example.test") == 0);
	snprintf(lock, sizeof lock, "issue-%s", comp);
	REQUIRE(at_store_lock(holder, lock, 30, 0) == 0);

	calls = 0;
	CHECK_INT(ensure_waiting(s, 1, &took), ==, AT_E_LOCKED);
	printf("  with a hook: AT_E_LOCKED after %ld ms, the hook called %d times\n", took, calls);
	CHECK(took >= 2500 && took < 6000);
	CHECK(calls >= 2 && calls <= 3);

	calls = 0;
	CHECK_INT(ensure_waiting(s, 0, &took), ==, AT_E_LOCKED);
	CHECK(took >= 2500 && took < 6000);
	CHECK_INT(calls, ==, 0);

	CHECK_OK(at_store_unlock(holder, lock));
	at_store_close(s);
	at_store_close(holder);
}

int main(void)
{
	if (mkdtemp(base) == NULL)
		return 1;
	RUN(hook_runs_while_waiting);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", base);
	return TEST_EXIT();
}
