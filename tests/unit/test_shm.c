/*
 * The shared region (shim/shm.c): what the manager writes a reader copies whole; a write that never ends (a
 * writer killed in its copy, a region scribbled on) makes a reader give up within a bounded wait instead of
 * spinning; records round-trip and a malformed payload is refused. The server's view of the region is read-only
 * and cannot be made writable (issue 9, item 3); the channel cannot be truncated under the manager.
 */
#include "shim/channel.c"
#include "shim/preload/shm_map.c" /* the preload's own files: not in the core archive */
#include "shim/shm.c"
#include "tests/test.h"
#include "util/buf.h"
#include "util/clock.h"

#include <signal.h>
#include <sys/wait.h>

/* A manager's read-write view of the region whose read-only descriptor is fd (the test runs as the memfd's
 * owner, or as root). */
static struct shm_region *writer_of(int fd)
{
	struct shm_region *w = NULL;
	int rw = shm_open_writable(fd);
	if (rw < 0 || shm_map_fd(&w, rw) != 0)
		w = NULL;
	if (rw >= 0)
		close(rw);
	return w;
}

static void write_then_read(void)
{
	int fd = -1;
	struct shm_region *r = NULL;
	REQUIRE(shm_create(&r, &fd) == 0);
	struct shm_region *w = writer_of(fd);
	REQUIRE(w != NULL);
	unsigned char *p = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	CHECK_INT(shm_read(r, &p, &len, &gen), ==, AT_E_NOTFOUND);
	CHECK_OK(shm_write(w, "hello", 5));
	CHECK_OK(shm_read(r, &p, &len, &gen));
	CHECK_INT(len, ==, 5);
	CHECK(p != NULL && memcmp(p, "hello", 5) == 0);
	CHECK_INT(gen, ==, 1);
	shm_copy_free(p, len);
	CHECK_INT(shm_write(w, "x", SHM_DATA_MAX + 1), ==, AT_E_TOOBIG);
	munmap(w, SHM_SIZE);
	munmap(r, SHM_SIZE);
	close(fd);
}

static void a_write_that_never_ends_is_not_waited_for(void)
{
	int fd = -1;
	struct shm_region *r = NULL;
	REQUIRE(shm_create(&r, &fd) == 0);
	struct shm_region *w = writer_of(fd);
	REQUIRE(w != NULL);
	CHECK_OK(shm_write(w, "hello", 5));
	atomic_fetch_add(&w->seq, 1); /* odd: a writer that stopped in the middle */
	unsigned char *p = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	long t0 = at_clock_ms();
	CHECK_INT(shm_read(r, &p, &len, &gen), ==, AT_E_TIMEOUT);
	long waited = at_clock_ms() - t0;
	printf("  gave up after %ld ms\n", waited);
	CHECK_INT(waited, <, 2000);
	CHECK(p == NULL);
	munmap(w, SHM_SIZE);
	munmap(r, SHM_SIZE);
	close(fd);
}

/* What a worker holds: an O_RDONLY descriptor of a 0400 memfd and a PROT_READ mapping. None of the ways to
 * write through them works; another user cannot even reopen it (run as root: a child as nobody tries). */
static void the_server_view_cannot_be_made_writable(void)
{
	int fd = -1;
	struct shm_region *r = NULL;
	REQUIRE(shm_create(&r, &fd) == 0);
	struct stat st;
	CHECK_OK(fstat(fd, &st));
	CHECK_INT(st.st_mode & 07777, ==, 0400);
	CHECK_INT(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_RDONLY);
	errno = 0;
	CHECK_INT(mprotect(r, 4096, PROT_READ | PROT_WRITE), ==, -1);
	CHECK_INT(errno, ==, EACCES);
	CHECK(mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
	CHECK_INT(errno, ==, EACCES);
	CHECK_INT(pwrite(fd, "x", 1, 0), ==, -1);
	CHECK_INT(errno, ==, EBADF);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* a sanitizer's handler would turn the fault into an exit */
		*(volatile uint32_t *)&r->futex = 1; /* a plain store into the mapping */
		_exit(0);
	}
	int status = 0;
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
	if (geteuid() == 0) {
		pid = fork();
		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(2);
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			int a = open(path, O_RDWR) < 0 && errno == EACCES;
			int b = shm_open_writable(fd) == -EACCES;
			int c = fchmod(fd, 0666) != 0 && errno == EPERM;
			_exit(a && b && c ? 0 : 1);
		}
		REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	munmap(r, SHM_SIZE);
	close(fd);
}

/* The channel is sealed before anyone else holds it: no process of the server can truncate it under the
 * manager's mapping (a SIGBUS there), and the manager refuses a memfd without the seal. */
static void the_channel_cannot_be_truncated(void)
{
	struct shm_channel *c = NULL, *m = NULL;
	int fd = -1;
	REQUIRE(chan_create(&c, &fd) == 0);
	CHECK_INT(ftruncate(fd, 0), ==, -1);
	CHECK_INT(errno, ==, EPERM);
	CHECK_OK(chan_map_fd(&m, fd));
	munmap(m, CHAN_SIZE);
	int plain = memfd_create("autotls-chan", MFD_CLOEXEC);
	REQUIRE(plain >= 0 && ftruncate(plain, (off_t)CHAN_SIZE) == 0);
	CHECK_INT(chan_map_fd(&m, plain), ==, AT_E_INVAL);
	close(plain);
	munmap(c, CHAN_SIZE);
	close(fd);
}

static void records_round_trip_and_hostile_payloads(void)
{
	struct at_buf b;
	struct shm_record rec;
	size_t off = 0;
	at_buf_init(&b, 1 << 16);
	CHECK_OK(shm_append_record(&b, SHM_CERT, "a.example.test", "CHAIN", 5, "KEY", 3));
	CHECK_OK(shm_append_record(&b, SHM_CHALLENGE, "b.example.test", "C", 1, "K", 1));
	CHECK_OK(shm_next_record((unsigned char *)b.data, b.len, &off, &rec));
	CHECK_STR(rec.name, "a.example.test");
	CHECK(rec.kind == SHM_CERT && rec.chain_len == 5 && memcmp(rec.chain, "CHAIN", 5) == 0);
	CHECK(rec.key_len == 3 && memcmp(rec.key, "KEY", 3) == 0);
	CHECK_OK(shm_next_record((unsigned char *)b.data, b.len, &off, &rec));
	CHECK(rec.kind == SHM_CHALLENGE);
	CHECK_INT(shm_next_record((unsigned char *)b.data, b.len, &off, &rec), ==, AT_E_NOTFOUND);
	/* Every truncation of the payload is refused or ends cleanly, never read past its end. */
	for (size_t cut = 1; cut < b.len; cut++) {
		int more;
		off = 0;
		while ((more = shm_next_record((unsigned char *)b.data, cut, &off, &rec)) == 0)
			;
		CHECK(more == AT_E_PARSE || (more == AT_E_NOTFOUND && off == cut));
	}
	static const unsigned char bad_kind[] = { 9, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char no_name[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char huge_len[] = { 1, 1, 'a', 0xff, 0xff, 0xff, 0xff };
	static const unsigned char nul_in_name[] = { 1, 2, 0, 'a', 0, 0, 0, 0, 0, 0, 0, 0 }; /* found by fuzz_region */
	off = 0;
	CHECK_INT(shm_next_record(bad_kind, sizeof(bad_kind), &off, &rec), ==, AT_E_PARSE);
	off = 0;
	CHECK_INT(shm_next_record(no_name, sizeof(no_name), &off, &rec), ==, AT_E_PARSE);
	off = 0;
	CHECK_INT(shm_next_record(huge_len, sizeof(huge_len), &off, &rec), ==, AT_E_PARSE);
	off = 0;
	CHECK_INT(shm_next_record(nul_in_name, sizeof(nul_in_name), &off, &rec), ==, AT_E_PARSE);
	at_buf_free(&b);
}

int main(void)
{
	RUN(write_then_read);
	RUN(a_write_that_never_ends_is_not_waited_for);
	RUN(records_round_trip_and_hostile_payloads);
	RUN(the_server_view_cannot_be_made_writable);
	RUN(the_channel_cannot_be_truncated);
	return TEST_EXIT();
}
