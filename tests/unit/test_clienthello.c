/* Unit tests: the ClientHello extension parsers (tables with hostile inputs) and the cache lookups. */
#include "shim/preload/cache.c"
#include "shim/preload/clienthello.c"
#include "tests/test.h"

#include <stdlib.h>

/* Builds a server_name extension with one host_name entry. */
static size_t sni_ext(unsigned char *out, const char *name, size_t len)
{
	out[0] = (unsigned char)((len + 3) >> 8);
	out[1] = (unsigned char)(len + 3);
	out[2] = 0;
	out[3] = (unsigned char)(len >> 8);
	out[4] = (unsigned char)len;
	memcpy(out + 5, name, len);
	return len + 5;
}

static void sni_good(void)
{
	unsigned char ext[400];
	char out[CH_SNI_MAX + 1];
	size_t n = sni_ext(ext, "Example.TEST", 12);
	CHECK_OK(ch_parse_sni(ext, n, out));
	CHECK_STR(out, "example.test");
	/* RFC 8738: the validator's SNI for an IP is the reverse name */
	n = sni_ext(ext, "1.0.0.127.in-addr.arpa", 22);
	CHECK_OK(ch_parse_sni(ext, n, out));
	CHECK_STR(out, "1.0.0.127.in-addr.arpa");
	char max[255];
	memset(max, 'a', sizeof(max));
	n = sni_ext(ext, max, sizeof(max));
	CHECK_OK(ch_parse_sni(ext, n, out));
	CHECK_INT(strlen(out), ==, 255);
}

static void sni_hostile(void)
{
	unsigned char ext[400];
	char out[CH_SNI_MAX + 1];
	char long_name[256];
	memset(long_name, 'a', sizeof(long_name));
	size_t n;
	CHECK_INT(ch_parse_sni(NULL, 0, out), ==, AT_E_NOTFOUND); /* no extension */
	CHECK_INT(ch_parse_sni(ext, 1, out), ==, AT_E_PARSE);
	n = sni_ext(ext, long_name, sizeof(long_name)); /* 256 bytes: over the limit */
	CHECK_INT(ch_parse_sni(ext, n, out), ==, AT_E_PARSE);
	n = sni_ext(ext, "a\0b.test", 8); /* embedded NUL */
	CHECK_INT(ch_parse_sni(ext, n, out), ==, AT_E_PARSE);
	n = sni_ext(ext, "a\nb.test", 8); /* control byte */
	CHECK_INT(ch_parse_sni(ext, n, out), ==, AT_E_PARSE);
	n = sni_ext(ext, "", 0); /* empty */
	CHECK_INT(ch_parse_sni(ext, n, out), ==, AT_E_PARSE);
	n = sni_ext(ext, "example.test", 12);
	CHECK_INT(ch_parse_sni(ext, n - 1, out), ==, AT_E_PARSE); /* truncated */
	ext[4] = 200;                                             /* entry longer than the list */
	CHECK_INT(ch_parse_sni(ext, n, out), ==, AT_E_PARSE);
	n = sni_ext(ext, "example.test", 12);
	ext[1] = (unsigned char)(ext[1] + 1); /* list length disagrees */
	CHECK_INT(ch_parse_sni(ext, n, out), ==, AT_E_PARSE);
	/* a whole list without a host_name (a name type of 1, unknown): nothing to find, nothing malformed */
	static const unsigned char other[] = { 0, 4, 1, 0, 1, 'x' };
	CHECK_INT(ch_parse_sni(other, sizeof(other), out), ==, AT_E_NOTFOUND);
	/* every truncation of a good extension is refused, never read past */
	n = sni_ext(ext, "example.test", 12);
	for (size_t k = 0; k < n; k++) {
		unsigned char *copy = malloc(k ? k : 1);
		memcpy(copy, ext, k);
		CHECK_INT(ch_parse_sni(copy, k, out), ==, AT_E_PARSE);
		free(copy);
	}
}

static void alpn_table(void)
{
	static const struct {
		const unsigned char *b;
		size_t n;
		bool only;
	} t[] = {
		{ (const unsigned char *)"\x00\x0b\x0a" "acme-tls/1", 13, 1 },
		{ (const unsigned char *)"\x00\x0b\x0a" "acme-tls/2", 13, 0 },
		{ (const unsigned char *)"\x00\x0e\x0a" "acme-tls/1\x02h2", 16, 0 }, /* acme-tls/1 and h2 */
		{ (const unsigned char *)"\x00\x03\x02h2", 5, 0 },
		{ (const unsigned char *)"\x00\x0a\x09" "acme-tls/", 12, 0 },
		{ (const unsigned char *)"\x00\x0b\x0b" "acme-tls/1", 13, 0 }, /* bad inner length */
		{ (const unsigned char *)"\x00\x0c\x0a" "acme-tls/1", 13, 0 }, /* bad list length */
		{ (const unsigned char *)"\x00", 1, 0 },
		{ NULL, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECK_INT(ch_alpn_only_acme(t[i].b, t[i].n), ==, t[i].only);
}

/* The lookups, by scan (no index) and through the name index. */
static void lookups_in(struct cache_snapshot *sp, struct cache_cert *certs)
{
	struct cache_snapshot s = *sp;
	CHECK(cache_find_cert(&s, "a.example.test", 1000) == &certs[0]);
	CHECK(cache_find_cert(&s, "x.wild.test", 1000) == &certs[1]);
	CHECK(cache_find_cert(&s, "wild.test", 1000) == NULL);       /* a wildcard covers one label, not the apex */
	CHECK(cache_find_cert(&s, "y.x.wild.test", 1000) == NULL);   /* and only one label */
	CHECK(cache_find_cert(&s, "old.example.test", 1000) == NULL); /* expired: the host's own is better */
	CHECK(cache_find_cert(&s, "b.example.test", 1000) == NULL);
	CHECK(cache_find_cert(NULL, "a.example.test", 1000) == NULL);
	CHECK(cache_find_challenge(&s, "a.example.test") == NULL);
	CHECK(cache_find_cert(&s, ".wild.test", 1000) == NULL);      /* an empty label is no label */
	CHECK(cache_find_cert(&s, "dup.example.test", 1000) == &certs[4]); /* the first live one of two */
	CHECK(cache_find_cert(&s, "A.EXAMPLE.TEST", 1000) == NULL);  /* callers lower-case first */
}

static void cache_lookups(void)
{
	struct cache_cert certs[6];
	memset(certs, 0, sizeof(certs));
	certs[0].name = "a.example.test";
	certs[0].not_after = 2000;
	certs[1].name = "*.wild.test";
	certs[1].not_after = 2000;
	certs[2].name = "old.example.test";
	certs[2].not_after = 500;
	certs[3].name = "dup.example.test";
	certs[3].not_after = 500;
	certs[4].name = "dup.example.test";
	certs[4].not_after = 2000;
	certs[5].name = "dup.example.test";
	certs[5].not_after = 3000;
	struct cache_snapshot s = { .ncerts = 6, .certs = certs };
	lookups_in(&s, certs);
	index_build(&s);
	CHECK(s.index != NULL);
	lookups_in(&s, certs);
	free(s.index);
}

/* Many names: every one found through the index, a wildcard among them, nothing found that is not there. */
static void cache_index_many(void)
{
	enum { N = 5000 };
	struct cache_cert *certs = calloc(N, sizeof(*certs));
	char *names = calloc(N, 32);
	REQUIRE(certs != NULL && names != NULL);
	for (int i = 0; i < N; i++) {
		char *nm = names + (size_t)i * 32;
		snprintf(nm, 32, i == N / 2 ? "*.w%d.test" : "n%d.example.test", i);
		certs[i].name = nm;
		certs[i].not_after = 2000;
	}
	struct cache_snapshot s = { .ncerts = N, .certs = certs };
	index_build(&s);
	REQUIRE(s.index != NULL);
	int found = 0;
	char name[64];
	for (int i = 0; i < N; i++) {
		if (i == N / 2)
			snprintf(name, sizeof(name), "x.w%d.test", i);
		else
			snprintf(name, sizeof(name), "n%d.example.test", i);
		found += cache_find_cert(&s, name, 1000) == &certs[i];
	}
	CHECK_INT(found, ==, N);
	CHECK(cache_find_cert(&s, "n5000.example.test", 1000) == NULL);
	CHECK(cache_find_cert(&s, "x.y.w2500.test", 1000) == NULL);
	free(s.index);
	free(certs);
	free(names);
}

static int freed;
static void count_free(struct cache_snapshot *s)
{
	freed++;
	free(s);
}

static void cache_publish_retires(void)
{
	struct cache_snapshot *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	a->free_fn = count_free;
	b->free_fn = count_free;
	cache_publish(a);
	CHECK(cache_current() == a);
	cache_publish(b);
	CHECK(cache_current() == b);
	/* a is retired, not freed: a reader may still hold it inside a callback */
	CHECK_INT(freed, ==, 0);
	CHECK(retired == a);
	a->retired_at_ms -= (CACHE_GRACE_S + 1) * 1000L; /* on the monotonic clock */
	cache_publish(NULL); /* frees what is due without a new publish, and keeps b current */
	CHECK_INT(freed, ==, 1);
	CHECK(cache_current() == b);
}

int main(void)
{
	RUN(sni_good);
	RUN(sni_hostile);
	RUN(alpn_table);
	RUN(cache_lookups);
	RUN(cache_index_many);
	RUN(cache_publish_retires);
	return TEST_EXIT();
}
