/*
 * When on-demand names were last asked for, kept in the store (shim/manager/ondemand_asked.c; the idle rule of
 * shim/ondemand_idle.h): what is saved is read back; lines another writer left malformed are skipped one by one,
 * the others stand; an absent key is no error. And the idle rule's periods from the settings.
 */
#include "shim/manager/ondemand_asked.c" /* the manager process's own file: not in the core archive */
#include "shim/ondemand_idle.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char seen[8][300];
static time_t seen_at[8];
static int nseen;

static void note(void *ctx, const char *name, time_t at)
{
	(void)ctx;
	if (nseen < 8) {
		snprintf(seen[nseen], sizeof(seen[0]), "%s", name);
		seen_at[nseen++] = at;
	}
}

static struct at_store *open_tmp(char dir[64])
{
	struct at_store *st = NULL;
	snprintf(dir, 64, "/tmp/autotls-asked-XXXXXX");
	if (mkdtemp(dir) == NULL || at_store_open_file(&st, dir) != 0)
		return NULL;
	return st;
}

static void saved_and_read_back(void)
{
	char dir[64], cmd[128];
	struct at_store *st = open_tmp(dir);
	REQUIRE(st != NULL);
	nseen = 0;
	CHECK_INT(od_asked_load(st, note, NULL), ==, 0); /* absent: nothing, no error */
	CHECK_INT(nseen, ==, 0);
	const char *names[] = { "a.od.test", "b.od.test" };
	time_t at[] = { 1700000000, 1700086400 };
	CHECK_INT(od_asked_save(st, names, at, 2), ==, 0);
	CHECK_INT(od_asked_load(st, note, NULL), ==, 0);
	CHECK_INT(nseen, ==, 2);
	CHECK_STR(seen[0], "a.od.test");
	CHECK(seen_at[1] == 1700086400);
	st->ops->close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), ==, 0);
}

static void malformed_lines_skipped(void)
{
	char dir[64], cmd[128];
	struct at_store *st = open_tmp(dir);
	REQUIRE(st != NULL);
	static const char text[] = "12 ok.od.test\n"
				   "x bad.od.test\n"
				   "-5 neg.od.test\n"
				   "13\n"
				   "14 \n"
				   "15 two words\n"
				   "\n"
				   "16 last.od.test"; /* no newline at the end */
	CHECK_INT(st->ops->store(st, ONDEMAND_ASKED_KEY, text, sizeof(text) - 1), ==, 0);
	nseen = 0;
	CHECK_INT(od_asked_load(st, note, NULL), ==, 0);
	CHECK_INT(nseen, ==, 2);
	CHECK_STR(seen[0], "ok.od.test");
	CHECK_STR(seen[1], "last.od.test");
	CHECK(seen_at[1] == 16);
	st->ops->close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), ==, 0);
}

static void periods(void)
{
	struct shim_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.backoff_divisor = 1;
	cfg.on_demand_idle_days = 30;
	CHECK_INT(ondemand_idle_s(&cfg), ==, 30 * 86400);
	CHECK_INT(ondemand_touch_s(&cfg), ==, 86400); /* a day in thirty */
	cfg.on_demand_idle_days = 3650;
	CHECK_INT(ondemand_touch_s(&cfg), ==, 86400); /* never more than a day */
	cfg.on_demand_idle_days = 0;
	CHECK_INT(ondemand_idle_s(&cfg), ==, 0); /* the rule off */
	cfg.on_demand_idle_days = 1;
	cfg.backoff_divisor = 17280; /* test_812's scale */
	CHECK_INT(ondemand_idle_s(&cfg), ==, 5);
	CHECK_INT(ondemand_touch_s(&cfg), ==, 1);
}

int main(void)
{
	RUN(saved_and_read_back);
	RUN(malformed_lines_skipped);
	RUN(periods);
	return TEST_EXIT();
}
