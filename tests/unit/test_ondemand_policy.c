/* The handshake side of on-demand issuance: which names may be asked for, and the request ring. */
#include "shim/config.c" /* the preload's own files: not in the core archive */
#include "shim/ondemand_policy.c"
#include "shim/preload/ondemand.c"
#include "shim/channel.c"
#include "tests/test.h"

#include <stdlib.h>

static void qualification_table(void)
{
	struct shim_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.on_demand = 1;
	static const struct {
		const char *name;
		int ok;
	} t[] = {
		{ "shop.example.com", 1 }, { "a.b.example.com", 1 }, { "xn--bcher-kva.example", 1 },
		{ "nodot", 0 }, { "localhost", 0 }, { "a.localhost", 0 }, { "1.2.3.4", 0 }, { "x.123", 0 },
		{ "", 0 }, { ".example.com", 0 }, { "example.com.", 0 }, { "a..b.com", 0 }, { "-a.com", 0 },
		{ "a-.com", 0 }, { "a.-b.com", 0 }, { "a_b.com", 0 }, { "a/b.com", 0 }, { "A.com", 0 }, { "a b.com", 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = ondemand_qualifies(&cfg, t[i].name);
		if (got != t[i].ok)
			fprintf(stderr, "  %s: %d\n", t[i].name, got);
		CHECK_INT(got, ==, t[i].ok);
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	memcpy(longname + 250, ".com", 5);
	CHECK_INT(ondemand_qualifies(&cfg, longname), ==, 0);
	cfg.on_demand = 0;
	CHECK_INT(ondemand_qualifies(&cfg, "shop.example.com"), ==, 0);
}

static void allow_patterns(void)
{
	struct shim_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.on_demand = 1;
	char p1[] = "*.shops.example.com", p2[] = "exact.example.org";
	cfg.allow[0] = p1;
	cfg.allow[1] = p2;
	cfg.nallow = 2;
	CHECK_INT(ondemand_qualifies(&cfg, "a.shops.example.com"), ==, 1);
	CHECK_INT(ondemand_qualifies(&cfg, "shops.example.com"), ==, 0);      /* the apex is not *.x */
	CHECK_INT(ondemand_qualifies(&cfg, "b.a.shops.example.com"), ==, 0);  /* one label only */
	CHECK_INT(ondemand_qualifies(&cfg, "exact.example.org"), ==, 1);
	CHECK_INT(ondemand_qualifies(&cfg, "other.example.org"), ==, 0);
}

static void ring_dedupes_and_drops(void)
{
	struct shm_channel *r = calloc(1, sizeof(*r));
	REQUIRE(r != NULL);
	char name[256];
	ondemand_post(r, "a.example.com");
	ondemand_post(r, "a.example.com"); /* already asked */
	int n = 0;
	while (chan_take_request(r, name) == 0)
		n++;
	CHECK_INT(n, ==, 1);
	/* More distinct names than slots: some are dropped, none is torn, the ring never overflows. */
	char buf[64];
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "n%d.example.com", i);
		ondemand_post(r, buf);
	}
	n = 0;
	while (chan_take_request(r, name) == 0) {
		CHECK(strncmp(name, "n", 1) == 0 && strstr(name, ".example.com") != NULL);
		n++;
	}
	CHECK(n > 0 && n <= CHAN_REQ_SLOTS);
	free(r);
}

/* What any process of the server may leave in the channel: states that mean nothing, names with no NUL. The
 * manager's take copies only ready slots, always NUL-terminated, and frees them. */
static void ring_garbage_is_contained(void)
{
	struct shm_channel *r = calloc(1, sizeof(*r));
	REQUIRE(r != NULL);
	for (int i = 0; i < CHAN_REQ_SLOTS; i++) {
		atomic_store(&r->req[i].state, (uint32_t)(i % 3 == 0 ? 2 : 0xdead0000u + (uint32_t)i));
		memset(r->req[i].name, 'A' + i % 26, sizeof(r->req[i].name));
	}
	char name[256];
	int n = 0;
	while (chan_take_request(r, name) == 0) {
		CHECK_INT((int)strlen(name), ==, 255);
		n++;
	}
	CHECK_INT(n, ==, (CHAN_REQ_SLOTS + 2) / 3);
	CHECK_INT(chan_take_request(r, name), ==, AT_E_NOTFOUND);
	free(r);
}

int main(void)
{
	RUN(qualification_table);
	RUN(allow_patterns);
	RUN(ring_dedupes_and_drops);
	RUN(ring_garbage_is_contained);
	return TEST_EXIT();
}
