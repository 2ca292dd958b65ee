/*
 * What each process notes for `autotls status` (shim/manager/seen.c): a process claims one slot of the untrusted
 * channel and keeps it across notes; a forked child claims its own; a slot of a dead process is freed by the
 * reader and reused; a slot a worker scribbled with a pid that is gone is never listed.
 */
#include "shim/manager/quiesce.c" /* mgr_host */
#include "shim/manager/seen.c"
#include "shim/channel.c"
#include "tests/test.h"

#include <sys/wait.h>

static struct shim_host host;
static struct shm_channel *ch;

static void setup(void)
{
	int fd;
	REQUIRE(chan_create(&ch, &fd) == 0);
	host.chan = ch;
	mgr_host = &host;
}

static const struct mgr_seen *find(const struct mgr_seen *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].pid == pid)
			return &v[i];
	return NULL;
}

static void one_slot_per_process_and_fork(void)
{
	struct mgr_seen v[8];
	size_t n = 0;
	mgr_seen_note(5);
	mgr_seen_note(7);
	mgr_seen_list(v, 8, &n);
	CHECK_INT((int)n, ==, 1);
	CHECK(find(v, n, getpid()) != NULL && find(v, n, getpid())->generation == 7);
	pid_t child = fork();
	if (child == 0) {
		mgr_seen_note(9); /* the child's own slot */
		_exit(0);
	}
	REQUIRE(child > 0);
	int st;
	REQUIRE(waitpid(child, &st, 0) == child);
	/* The child noted, then died: its slot is not listed, and is freed. */
	int used = 0;
	for (int i = 0; i < CHAN_SEEN_SLOTS; i++)
		used += atomic_load(&ch->seen[i].pid) != 0;
	CHECK_INT(used, ==, 2);
	mgr_seen_list(v, 8, &n);
	CHECK_INT((int)n, ==, 1);
	used = 0;
	for (int i = 0; i < CHAN_SEEN_SLOTS; i++)
		used += atomic_load(&ch->seen[i].pid) != 0;
	CHECK_INT(used, ==, 1);
}

static void a_forged_slot_of_a_dead_pid_is_not_listed(void)
{
	struct mgr_seen v[8];
	size_t n = 0;
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	int st;
	REQUIRE(child > 0 && waitpid(child, &st, 0) == child);
	atomic_store(&ch->seen[100].pid, (int32_t)child); /* a worker wrote a gone pid */
	atomic_store(&ch->seen[100].generation, 1000);
	mgr_seen_list(v, 8, &n);
	CHECK(find(v, n, child) == NULL);
	CHECK_INT(atomic_load(&ch->seen[100].pid), ==, 0);
	/* A full table: a new process notes nothing, and nothing breaks. */
	for (int i = 0; i < CHAN_SEEN_SLOTS; i++)
		if (atomic_load(&ch->seen[i].pid) == 0)
			atomic_store(&ch->seen[i].pid, 1); /* init: alive */
	child = fork();
	if (child == 0) {
		mgr_seen_note(3);
		_exit(0);
	}
	REQUIRE(child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st));
}

int main(void)
{
	setup();
	RUN(one_slot_per_process_and_fork);
	RUN(a_forged_slot_of_a_dead_pid_is_not_listed);
	return TEST_EXIT();
}
