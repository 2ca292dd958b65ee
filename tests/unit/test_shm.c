/*
 * The shared region (shim/shm.c, shim/shm_dir.c): a follower copies only the records whose version changed; an
 * unchanged record is not written again; a full heap half is compacted without new versions; a new writer
 * adopts what is there; a directory scribbled on is refused; a write that never ends (a writer killed in it)
 * makes a reader give up within a bounded wait instead of spinning; records round-trip and a malformed record
 * is refused. The server's view of the region is read-only and cannot be made writable (issue 9, item 3): the
 * writer's side writes through a view of its own; the channel cannot be truncated under the manager.
 */
#include "shim/channel.c"
#include "shim/preload/shm_map.c" /* the preload's own files: not in the core archive */
#include "shim/shm.c"
#include "shim/shm_dir.c"
#include "tests/test.h"
#include "util/buf.h"
#include "util/clock.h"

#include <pthread.h>
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

/* The changes a follower that knows versions known[0..nknown) would read (copied into *c). */
static size_t changes(struct shm_region *r, uint64_t *known, size_t nknown, struct shm_changes *c)
{
	int rc = shm_read_changes(r, known, nknown, 0, c);
	CHECK_OK(rc);
	if (rc != 0)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].slot < nknown)
			known[c->v[i].slot] = c->v[i].version;
	return c->n;
}

static void put_then_read_only_what_changed(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	struct shm_changes c;
	uint64_t known[8] = { 0 };
	CHECK_INT(shm_read_changes(r, known, 8, 0, &c), ==, AT_E_NOTFOUND);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL));
	CHECK_OK(shm_put(r, SHM_CERT, "b.example.test", "CB", 2, "KB", 2, NULL));
	CHECK_OK(shm_put(r, SHM_CHALLENGE, "a.example.test", "CC", 2, "KC", 2, NULL)); /* another kind, another slot */
	CHECK_INT(changes(r, known, 8, &c), ==, 3);
	CHECK_INT(c.nslots, ==, 3);
	struct shm_record rec;
	CHECK_OK(shm_parse_record(c.v[1].rec, c.v[1].len, &rec));
	CHECK_STR(rec.name, "b.example.test");
	CHECK(rec.chain_len == 2 && memcmp(rec.chain, "CB", 2) == 0);
	shm_changes_free(&c);
	/* Nothing changed: nothing copied. The same bytes again: nothing written, nobody woken. */
	CHECK_INT(changes(r, known, 8, &c), ==, 0);
	shm_changes_free(&c);
	uint32_t futex = atomic_load(&r->futex);
	CHECK_INT(shm_put(r, SHM_CERT, "b.example.test", "CB", 2, "KB", 2, NULL), ==, AT_E_STATE);
	CHECK_INT(atomic_load(&r->futex), ==, futex);
	/* One record changes: one change, in its own slot, with a new version. */
	uint64_t before = known[1];
	CHECK_OK(shm_put(r, SHM_CERT, "b.example.test", "CB2", 3, "KB", 2, NULL));
	CHECK_INT(changes(r, known, 8, &c), ==, 1);
	CHECK_INT(c.v[0].slot, ==, 1);
	CHECK(known[1] > before);
	shm_changes_free(&c);
	/* Withdrawn: a change with no record; the slot is reused by the next new name. */
	CHECK_OK(shm_drop(r, SHM_CHALLENGE, "a.example.test"));
	CHECK_INT(shm_drop(r, SHM_CHALLENGE, "a.example.test"), ==, AT_E_NOTFOUND);
	CHECK_INT(changes(r, known, 8, &c), ==, 1);
	CHECK(c.v[0].slot == 2 && c.v[0].rec == NULL && known[2] == 0);
	shm_changes_free(&c);
	CHECK_OK(shm_put(r, SHM_CERT, "c.example.test", "CC", 2, "KC", 2, NULL));
	CHECK_INT(changes(r, known, 8, &c), ==, 1);
	CHECK_INT(c.v[0].slot, ==, 2);
	shm_changes_free(&c);
	/* Through the ring: after a read at nwrites w, only the slots written since are looked at. */
	CHECK_INT(changes(r, known, 8, &c), ==, 0);
	uint64_t w = c.nwrites;
	shm_changes_free(&c);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA2", 3, "KA", 2, NULL));
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA3", 3, "KA", 2, NULL)); /* twice: one change */
	CHECK_OK(shm_read_changes(r, known, 8, w, &c));
	CHECK_INT(c.n, ==, 1);
	CHECK(c.n == 1 && c.v[0].slot == 0 && c.nwrites == w + 2);
	known[0] = c.n ? c.v[0].version : 0;
	shm_changes_free(&c);
	/* A follower too far behind for the ring (or with a count from the future) walks every slot. */
	for (int i = 0; i < SHM_RING + 2; i++) {
		char chain[16];
		snprintf(chain, sizeof(chain), "C%d", i);
		CHECK_OK(shm_put(r, SHM_CERT, "b.example.test", chain, strlen(chain), "KB", 2, NULL));
	}
	CHECK_OK(shm_read_changes(r, known, 8, w + 2, &c));
	CHECK(c.n == 1 && c.v[0].slot == 1);
	shm_changes_free(&c);
	CHECK_OK(shm_read_changes(r, known, 8, UINT64_MAX, &c));
	CHECK(c.n == 1 && c.v[0].slot == 1);
	if (c.n == 1)
		known[1] = c.v[0].version;
	shm_changes_free(&c);
	/* A follower that knows nothing reads everything live. */
	CHECK_INT(changes(r, NULL, 0, &c), ==, 3);
	shm_changes_free(&c);
	writer_reset(); /* a later region may be mapped at this address: the writer starts afresh */
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

/* A tree that can hold only its configured certificates gets the small region (address space is what a
 * server's RLIMIT_AS caps count: vsftpd's sessions, Dovecot's logins): it works as the large one, compacts
 * within its own halves, refuses what cannot fit in them; a mapping whose header disagrees with the memfd's
 * size (the bounds every reader takes from the header) is refused. */
static void the_small_region_works_within_its_size(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	CHECK_INT(shm_create(&ro, &fd, 12345), ==, AT_E_INVAL);
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_SMALL) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	CHECK(shm_size(ro) == SHM_SIZE_SMALL && shm_size(r) == SHM_SIZE_SMALL);
	CHECK(shm_half(r) > (4u << 20) && 2 * (uint64_t)shm_half(r) + SHM_HEAP_OFF <= SHM_SIZE_SMALL);
	size_t big = 1u << 20;
	char *chain = calloc(1, big);
	REQUIRE(chain != NULL);
	CHECK_OK(shm_put(r, SHM_CERT, "keep.example.test", "K1", 2, "K", 1, NULL));
	uint32_t half0 = atomic_load(&((struct shm_dir *)(void *)r->data)->half);
	int flipped = 0;
	for (int i = 0; i < 40 && !flipped; i++) {
		chain[0] = (char)('a' + i % 26);
		chain[1] = (char)('a' + i / 26);
		CHECK_OK(shm_put(r, SHM_CERT, "big.example.test", chain, big, "K", 1, NULL));
		flipped = atomic_load(&((struct shm_dir *)(void *)r->data)->half) != half0;
	}
	CHECK(flipped);
	struct shm_changes c;
	CHECK_INT(changes(r, NULL, 0, &c), ==, 2);
	shm_changes_free(&c);
	CHECK_INT(shm_put(r, SHM_CERT, "huge.example.test", chain, shm_half(r), "K", 1, NULL), ==, AT_E_TOOBIG);
	free(chain);
	writer_reset();
	/* The header says large, the memfd is small: refused, not mapped with the header's bounds. */
	r->size = SHM_SIZE_LARGE;
	struct shm_region *again = NULL;
	CHECK_INT(shm_map_fd(&again, fd), ==, AT_E_INVAL);
	r->size = SHM_SIZE_SMALL;
	CHECK_OK(shm_map_fd(&again, fd));
	if (again != NULL)
		munmap(again, shm_size(again));
	munmap(r, SHM_SIZE_SMALL);
	munmap(ro, SHM_SIZE_SMALL);
	close(fd);
}

/* Replacing one big record over and over fills a heap half: the live records move to the other half with
 * their versions (followers parse nothing again), and the region never fills up. */
static void a_full_half_is_compacted_not_reparsed(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	size_t big = 8u << 20;
	char *chain = calloc(1, big);
	REQUIRE(chain != NULL);
	uint64_t known[4] = { 0 };
	struct shm_changes c;
	CHECK_OK(shm_put(r, SHM_CERT, "keep.example.test", "K1", 2, "K", 1, NULL));
	uint32_t half0 = atomic_load(&((struct shm_dir *)(void *)r->data)->half);
	int flipped = 0;
	for (int i = 0; i < 80 && !flipped; i++) {
		chain[0] = (char)('a' + i % 26);
		chain[1] = (char)('a' + i / 26);
		CHECK_OK(shm_put(r, SHM_CERT, "big.example.test", chain, big, "K", 1, NULL));
		if (i == 0) {
			CHECK_INT(changes(r, known, 4, &c), ==, 2);
			shm_changes_free(&c);
		}
		flipped = atomic_load(&((struct shm_dir *)(void *)r->data)->half) != half0;
	}
	CHECK(flipped);
	CHECK_INT(changes(r, known, 4, &c), ==, 1); /* the big one only: "keep" moved, same version */
	CHECK_INT(c.v[0].slot, ==, 1);
	shm_changes_free(&c);
	CHECK_INT(changes(r, NULL, 0, &c), ==, 2);
	struct shm_record rec;
	CHECK_OK(shm_parse_record(c.v[0].rec, c.v[0].len, &rec));
	CHECK(rec.chain_len == 2 && memcmp(rec.chain, "K1", 2) == 0);
	shm_changes_free(&c);
	/* Live records that cannot fit in a half: refused (the caller logs and retries), nothing lost. */
	CHECK_INT(shm_put(r, SHM_CERT, "huge.example.test", chain, shm_half(r), "K", 1, NULL), ==, AT_E_TOOBIG);
	free(chain);
	writer_reset(); /* a later region may be mapped at this address: the writer starts afresh */
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

/* A new writer (a manager that took over) keeps what is there: the same certificate is not written again,
 * and the challenges of the one before are withdrawn. */
static void a_new_writer_adopts_the_records(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL));
	CHECK_OK(shm_put(r, SHM_CHALLENGE, "x.example.test", "CX", 2, "KX", 2, NULL));
	uint64_t known[4] = { 0 };
	struct shm_changes c;
	CHECK_INT(changes(r, known, 4, &c), ==, 2);
	shm_changes_free(&c);
	writer_reset(); /* as in a new process */
	CHECK_INT(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL), ==, AT_E_STATE);
	CHECK_INT(changes(r, known, 4, &c), ==, 1);
	CHECK(c.v[0].slot == 1 && c.v[0].rec == NULL);
	shm_changes_free(&c);
	writer_reset(); /* a later region may be mapped at this address: the writer starts afresh */
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

/* A directory scribbled on (any process of the tree can write into the region) is refused, never followed. */
static void a_slot_outside_the_heap_is_refused(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL));
	struct shm_dir *d = (struct shm_dir *)(void *)r->data;
	atomic_store(&d->slot[0].off, 2 * shm_half(r) - 1);
	struct shm_changes c;
	CHECK_INT(shm_read_changes(r, NULL, 0, 0, &c), ==, AT_E_PARSE);
	atomic_store(&d->nslots, SHM_SLOTS + 1);
	CHECK_INT(shm_read_changes(r, NULL, 0, 0, &c), ==, AT_E_PARSE);
	writer_reset(); /* a later region may be mapped at this address: the writer starts afresh */
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

static void a_write_that_never_ends_is_not_waited_for(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL));
	atomic_fetch_add(&r->seq, 1); /* odd: a writer that stopped in the middle */
	struct shm_changes c;
	long t0 = at_clock_ms();
	CHECK_INT(shm_read_changes(r, NULL, 0, 0, &c), ==, AT_E_TIMEOUT);
	long waited = at_clock_ms() - t0;
	printf("  gave up after %ld ms\n", waited);
	CHECK_INT(waited, <, 2000);
	CHECK(c.v == NULL && c.copy == NULL);
	writer_reset(); /* a later region may be mapped at this address: the writer starts afresh */
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

/* A write section that ends within the reader's yield window (a writer preempted in it on a loaded machine):
 * a handshake's read of a slot yields and gets the record instead of giving up at once (it then served the
 * host's certificate); a section that does not end is given up on within about a millisecond. */
struct section {
	struct shm_region *r;
	long opened_us, closed_us;
};

static void *close_section_soon(void *arg)
{
	struct section *s = arg;
	while (at_clock_us() - s->opened_us < 200)
		; /* a busy wait: usleep's wake-up alone took 900 us under ASan */
	s->closed_us = at_clock_us() - s->opened_us;
	atomic_fetch_add(&s->r->seq, 1); /* even: the write ended */
	return NULL;
}

static void a_short_write_section_is_waited_out_by_a_slot_read(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL));
	struct shm_changes c;
	REQUIRE(shm_read_changes(r, NULL, 0, 0, &c) == 0 && c.n == 1);
	uint32_t slot = c.v[0].slot;
	uint64_t version = c.v[0].version;
	shm_changes_free(&c);
	unsigned char *copy = NULL;
	size_t len = 0;
	struct section sec = { .r = r };
	pthread_t t;
	atomic_fetch_add(&r->seq, 1); /* odd: a write in progress */
	sec.opened_us = at_clock_us();
	REQUIRE(pthread_create(&t, NULL, close_section_soon, &sec) == 0);
	int rc = shm_read_slot(r, slot, version, &copy, &len);
	long got_us = at_clock_us() - sec.opened_us;
	pthread_join(t, NULL);
	printf("  section closed after %ld us; the read returned %d after %ld us\n", sec.closed_us, rc, got_us);
	if (sec.closed_us < SLOT_YIELD_US * 8 / 10) {
		CHECK_INT(rc, ==, 0);
		struct shm_record rec;
		CHECK(rc != 0 || (shm_parse_record(copy, len, &rec) == 0 && strcmp(rec.name, "a.example.test") == 0));
	} else {
		printf("  (the machine delayed the closing thread past the window: the read's result is not judged)\n");
	}
	shm_copy_free(copy, len);
	/* Never closed: given up on after the window. */
	atomic_fetch_add(&r->seq, 1);
	long t0 = at_clock_us();
	CHECK_INT(shm_read_slot(r, slot, version, &copy, &len), ==, AT_E_TIMEOUT);
	long waited = at_clock_us() - t0;
	printf("  an open section given up on after %ld us\n", waited);
	CHECK_INT(waited, >=, SLOT_YIELD_US);
	CHECK_INT(waited, <, 2000000); /* bounded (a loaded machine may hold a yielding thread for a while) */
	writer_reset();
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

/* A writer that another wrote after (a lead lost and won back: here a child process writes in between) adopts the
 * region again before its next write: its own index, stale, would give a new name the other writer's slot. */
static void a_writer_after_another_adopts_again(void)
{
	int fd = -1;
	struct shm_region *r = NULL, *ro = NULL;
	REQUIRE(shm_create(&ro, &fd, SHM_SIZE_LARGE) == 0);
	REQUIRE((r = writer_of(fd)) != NULL);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA", 2, "KA", 2, NULL));
	pid_t pid = fork();
	if (pid == 0) /* the other writer withdraws a (its slot freed) and writes b (into that slot) */
		_exit(shm_drop(r, SHM_CERT, "a.example.test") == 0 &&
			      shm_put(r, SHM_CERT, "b.example.test", "CB", 2, "KB", 2, NULL) == 0 ?
			      0 :
			      1);
	int status = 0;
	REQUIRE(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(shm_put(r, SHM_CERT, "a.example.test", "CA2", 3, "KA", 2, NULL)); /* a again: not into b's slot */
	CHECK_OK(shm_put(r, SHM_CERT, "c.example.test", "CC", 2, "KC", 2, NULL));
	struct shm_changes c;
	CHECK_INT(changes(r, NULL, 0, &c), ==, 3);
	int seen = 0;
	for (size_t i = 0; i < c.n; i++) {
		struct shm_record rec;
		if (c.v[i].rec != NULL && shm_parse_record(c.v[i].rec, c.v[i].len, &rec) == 0)
			seen |= rec.name[0] == 'a' ? 1 : rec.name[0] == 'b' ? 2 : rec.name[0] == 'c' ? 4 : 0;
	}
	CHECK_INT(seen, ==, 7);
	shm_changes_free(&c);
	writer_reset();
	munmap(r, SHM_SIZE_LARGE);
	munmap(ro, SHM_SIZE_LARGE);
	close(fd);
}

/* What a worker holds: an O_RDONLY descriptor of a 0400 memfd and a PROT_READ mapping. None of the ways to
 * write through them works; another user cannot even reopen it (run as root: a child as nobody tries). */
static void the_server_view_cannot_be_made_writable(void)
{
	int fd = -1;
	struct shm_region *r = NULL;
	REQUIRE(shm_create(&r, &fd, SHM_SIZE_LARGE) == 0);
	struct stat st;
	CHECK_OK(fstat(fd, &st));
	CHECK_INT(st.st_mode & 07777, ==, 0400);
	CHECK_INT(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_RDONLY);
	errno = 0;
	CHECK_INT(mprotect(r, 4096, PROT_READ | PROT_WRITE), ==, -1);
	CHECK_INT(errno, ==, EACCES);
	CHECK(mmap(NULL, SHM_SIZE_LARGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
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
	munmap(r, SHM_SIZE_LARGE);
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
	char *names[] = { "a.example.test", "*.a.example.test" };
	static const unsigned char staple[] = { 0x30, 0x03, 0x0a, 0x01, 0x00 };
	struct shm_meta meta = { .not_after = 4102444800, .nnames = 2, .names = names, .blob = "sha256:ab",
				 .blob_slot = 7, .blob_version = 1ull << 40, .ocsp = staple, .ocsp_len = sizeof(staple),
				 .ocsp_until = 4102444000 };
	char nm[256];
	size_t noff = 0;
	at_buf_init(&b, 1 << 16);
	CHECK_OK(shm_append_record(&b, SHM_CERT, "a.example.test", "CHAIN", 5, "KEY", 3, &meta));
	CHECK_OK(shm_append_record(&b, SHM_CHALLENGE, "b.example.test", "C", 1, "K", 1, NULL));
	CHECK_OK(shm_next_record((unsigned char *)b.data, b.len, &off, &rec));
	CHECK_STR(rec.name, "a.example.test");
	CHECK(rec.kind == SHM_CERT && rec.chain_len == 5 && memcmp(rec.chain, "CHAIN", 5) == 0);
	CHECK(rec.key_len == 3 && memcmp(rec.key, "KEY", 3) == 0);
	CHECK(rec.not_after == 4102444800 && rec.nnames == 2);
	CHECK_OK(shm_record_name(&rec, &noff, nm));
	CHECK_STR(nm, "a.example.test");
	CHECK_OK(shm_record_name(&rec, &noff, nm));
	CHECK_STR(nm, "*.a.example.test");
	CHECK_INT(shm_record_name(&rec, &noff, nm), ==, AT_E_NOTFOUND);
	CHECK_STR(rec.blob, "sha256:ab");
	CHECK(rec.blob_slot == 7 && rec.blob_version == 1ull << 40);
	CHECK(rec.ocsp_len == sizeof(staple) && memcmp(rec.ocsp, staple, sizeof(staple)) == 0);
	CHECK(rec.ocsp_until == 4102444000);
	CHECK_OK(shm_next_record((unsigned char *)b.data, b.len, &off, &rec));
	CHECK(rec.kind == SHM_CHALLENGE && rec.ocsp == NULL && rec.ocsp_len == 0);
	CHECK_INT(shm_next_record((unsigned char *)b.data, b.len, &off, &rec), ==, AT_E_NOTFOUND);
	/* Every truncation of the payload is refused or ends cleanly, never read past its end. */
	for (size_t cut = 1; cut < b.len; cut++) {
		int more;
		off = 0;
		while ((more = shm_next_record((unsigned char *)b.data, cut, &off, &rec)) == 0)
			;
		CHECK(more == AT_E_PARSE || (more == AT_E_NOTFOUND && off == cut));
	}
	static const unsigned char bad_kind[] = { 9, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char no_name[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char huge_len[] = { 1, 1, 'a', 0xff, 0xff, 0xff, 0xff };
	/* found by fuzz_region: */
	static const unsigned char nul_in_name[] = { 1, 2, 0, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	/* A names list whose second name runs past the record, and one with an empty name. */
	static const unsigned char names_past[] = { 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						    0, 0, 0, 0, 0, 0, 2, 1, 'a', 9, 'b' };
	static const unsigned char names_empty[] = { 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	off = 0;
	CHECK_INT(shm_next_record(bad_kind, sizeof(bad_kind), &off, &rec), ==, AT_E_PARSE);
	off = 0;
	CHECK_INT(shm_next_record(no_name, sizeof(no_name), &off, &rec), ==, AT_E_PARSE);
	off = 0;
	CHECK_INT(shm_next_record(huge_len, sizeof(huge_len), &off, &rec), ==, AT_E_PARSE);
	off = 0;
	CHECK_INT(shm_next_record(nul_in_name, sizeof(nul_in_name), &off, &rec), ==, AT_E_PARSE);
	CHECK_INT(shm_parse_record(names_past, sizeof(names_past), &rec), ==, AT_E_PARSE);
	CHECK_INT(shm_parse_record(names_empty, sizeof(names_empty), &rec), ==, AT_E_PARSE);
	static const unsigned char minimal[] = { 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'b', 0,
						 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	/* A staple longer than the record, and one over SHM_OCSP_MAX. */
	static const unsigned char staple_past[] = { 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
						     'b', 0, 9, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0 };
	static const unsigned char staple_huge[] = { 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
						     'b', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	CHECK_INT(shm_parse_record(staple_past, sizeof(staple_past), &rec), ==, AT_E_PARSE);
	CHECK_INT(shm_parse_record(staple_huge, sizeof(staple_huge), &rec), ==, AT_E_PARSE);
	static const unsigned char blob_short[] = { 1, 1, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						    0, 0, 0, 0, 0, 0, 0, 1, 'x', 1, 0, 0, 0 };
	CHECK_OK(shm_parse_record(minimal, sizeof(minimal), &rec));
	CHECK_INT(shm_parse_record(minimal, sizeof(minimal) - 1, &rec), ==, AT_E_PARSE);
	CHECK_INT(shm_parse_record(blob_short, sizeof(blob_short), &rec), ==, AT_E_PARSE); /* a reference cut short */
	at_buf_free(&b);
}

int main(void)
{
	RUN(put_then_read_only_what_changed);
	RUN(a_full_half_is_compacted_not_reparsed);
	RUN(the_small_region_works_within_its_size);
	RUN(a_new_writer_adopts_the_records);
	RUN(a_slot_outside_the_heap_is_refused);
	RUN(a_write_that_never_ends_is_not_waited_for);
	RUN(a_short_write_section_is_waited_out_by_a_slot_read);
	RUN(records_round_trip_and_hostile_payloads);
	RUN(a_writer_after_another_adopts_again);
	RUN(the_server_view_cannot_be_made_writable);
	RUN(the_channel_cannot_be_truncated);
	return TEST_EXIT();
}
