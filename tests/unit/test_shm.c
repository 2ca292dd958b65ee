/*
 * The shared region (shim/shm.c): what the manager writes a reader copies whole; a write that never ends (a
 * writer killed in its copy, a region scribbled on) makes a reader give up within a bounded wait instead of
 * spinning; records round-trip and a malformed payload is refused.
 */
#include "shim/preload/shm_map.c" /* the preload's own files: not in the core archive */
#include "shim/shm.c"
#include "tests/test.h"
#include "util/buf.h"
#include "util/clock.h"

static void write_then_read(void)
{
	int fd = -1;
	struct shm_region *r = NULL;
	REQUIRE(shm_create(&r, &fd) == 0);
	unsigned char *p = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	CHECK_INT(shm_read(r, &p, &len, &gen), ==, AT_E_NOTFOUND);
	CHECK_OK(shm_write(r, "hello", 5));
	CHECK_OK(shm_read(r, &p, &len, &gen));
	CHECK_INT(len, ==, 5);
	CHECK(p != NULL && memcmp(p, "hello", 5) == 0);
	CHECK_INT(gen, ==, 1);
	shm_copy_free(p, len);
	CHECK_INT(shm_write(r, "x", SHM_DATA_MAX + 1), ==, AT_E_TOOBIG);
	munmap(r, SHM_SIZE);
	close(fd);
}

static void a_write_that_never_ends_is_not_waited_for(void)
{
	int fd = -1;
	struct shm_region *r = NULL;
	REQUIRE(shm_create(&r, &fd) == 0);
	CHECK_OK(shm_write(r, "hello", 5));
	atomic_fetch_add(&r->seq, 1); /* odd: a writer that stopped in the middle */
	unsigned char *p = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	long t0 = at_clock_ms();
	CHECK_INT(shm_read(r, &p, &len, &gen), ==, AT_E_TIMEOUT);
	long waited = at_clock_ms() - t0;
	printf("  gave up after %ld ms\n", waited);
	CHECK_INT(waited, <, 2000);
	CHECK(p == NULL);
	munmap(r, SHM_SIZE);
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
	return TEST_EXIT();
}
