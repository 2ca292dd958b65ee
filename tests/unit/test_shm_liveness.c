/*
 * The region's liveness mutex (shim/shm.h, issue 9): the state a process of the tree reads is the kernel's, so a
 * killed manager reads "gone" while it is still an unreaped zombie, from a read-only mapping too; a new manager
 * takes over (EOWNERDEAD), which also repairs a seqlock its predecessor left odd; a second candidate is refused
 * while one lives. Managers hold the region read-write (w, as the manager process maps its fd 3); the tree's
 * processes read it through the creator's read-only view (r).
 */
#include "shim/preload/shm_map.c" /* the preload's and the manager's own files: not in the core archive */
#include "shim/shm.c"
#include "tests/test.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

static struct shm_region *r; /* the read-only view every process of the server has */
static struct shm_region *w; /* a manager's read-write view */
static int fd = -1;

/* A child that claims the mutex (as a manager does), says so through the pipe, then sleeps until killed. */
static pid_t manager_child(int odd_seq)
{
	int p[2];
	char c = 0;
	if (pipe(p) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int took = 0;
		c = shm_manager_claim(w, &took) == 0 ? 'y' : 'n';
		if (odd_seq)
			atomic_fetch_add(&w->seq, 1); /* killed "inside" a write section */
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1 || c != 'y') {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	return pid;
}

static void fresh_region_has_none(void)
{
	REQUIRE(shm_create(&r, &fd, SHM_SIZE_LARGE) == 0);
	int rw = shm_open_writable(fd);
	REQUIRE(rw >= 0 && shm_map_fd(&w, rw) == 0);
	close(rw);
	CHECK_INT(shm_manager_state(r), ==, SHM_MANAGER_NONE);
	CHECK_INT(atomic_load(&r->mgr_gen), ==, 0);
}

static void killed_manager_reads_gone_as_a_zombie(void)
{
	REQUIRE(r != NULL);
	pid_t m = manager_child(1);
	REQUIRE(m > 0);
	CHECK_INT(shm_manager_state(r), ==, SHM_MANAGER_ALIVE);
	CHECK_INT(atomic_load(&r->helper_pid), ==, m);
	CHECK_INT(atomic_load(&r->mgr_gen), ==, 1);
	/* A second candidate is refused while the first lives. */
	int took = 1;
	CHECK_INT(shm_manager_claim(w, &took), ==, AT_E_LOCKED);
	CHECK_INT(took, ==, 0);
	kill(m, SIGKILL);
	/* Not reaped: a zombie, and kill(m, 0) still succeeds; the word says gone all the same. */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	CHECK_OK(waitid(P_PID, (id_t)m, &si, WEXITED | WNOWAIT));
	CHECK_OK(kill(m, 0));
	CHECK_INT(shm_manager_state(r), ==, SHM_MANAGER_GONE);
	/* From a read-only mapping of the same region too. */
	const struct shm_region *ro = mmap(NULL, SHM_SIZE_LARGE, PROT_READ, MAP_SHARED, fd, 0);
	REQUIRE(ro != MAP_FAILED);
	CHECK_INT(shm_manager_state(ro), ==, SHM_MANAGER_GONE);
	munmap((void *)ro, SHM_SIZE_LARGE);
	waitpid(m, NULL, 0);
}

static void next_manager_takes_over(void)
{
	REQUIRE(r != NULL);
	CHECK(atomic_load(&r->seq) & 1);
	pid_t m = fork();
	if (m == 0) {
		int took = 0;
		int ok = shm_manager_claim(w, &took) == 0 && took == 1 && !(atomic_load(&r->seq) & 1) &&
			 shm_manager_state(r) == SHM_MANAGER_ALIVE;
		_exit(ok ? 0 : 1);
	}
	int st = 0;
	REQUIRE(m > 0 && waitpid(m, &st, 0) == m);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_INT(atomic_load(&r->mgr_gen), ==, 2);
	CHECK(!(atomic_load(&r->seq) & 1));
	/* It exited (as a manager does when its tree is gone): gone again, and the next one may claim. */
	CHECK_INT(shm_manager_state(r), ==, SHM_MANAGER_GONE);
	int took = 0;
	CHECK_OK(shm_manager_claim(w, &took));
	CHECK_INT(took, ==, 1);
	CHECK_INT(shm_manager_state(r), ==, SHM_MANAGER_ALIVE);
}

int main(void)
{
	RUN(fresh_region_has_none);
	RUN(killed_manager_reads_gone_as_a_zombie);
	RUN(next_manager_takes_over);
	return TEST_EXIT();
}
