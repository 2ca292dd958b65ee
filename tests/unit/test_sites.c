/*
 * The sites file's reader (shim/sites.c, AUTOTLS_SITES) from a table that includes hostile lines: each bad line
 * is one log line naming the file, the line and the reason, and the other lines stand; the CA's name limit per
 * certificate (25 under the tlsserver and shortlived profiles, 100 otherwise) is refused on its line.
 */
#include "shim/sites.c" /* the manager process's own file: not in the core archive */
#include "tests/harness/log_capture.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct row {
	const char *text;
	size_t nlines;     /* certificates taken */
	size_t nbad;       /* lines refused (each logged once) */
	const char *keys;  /* the taken lines' keys, space-separated, with their name counts: "a.test:2 b.test:1" */
	const char *log;   /* a piece of the first log line, NULL: none logged */
};

static const char *const managed[] = { "managed.example.test" };

static const struct row rows[] = {
	{ "", 0, 0, "", NULL },
	{ "\n\n   \n\t\n", 0, 0, "", NULL },
	{ "# only a comment\n  # another\n", 0, 0, "", NULL },
	{ "a.test www.a.test\nb.test\n", 2, 0, "a.test:2 b.test:1", NULL },
	{ "a.test\twww.a.test  \t api.a.test # the shop\r\nb.test", 2, 0, "a.test:3 b.test:1", NULL },
	{ "A.Test WWW.a.test.\n", 1, 0, "a.test:2", NULL },
	{ "a.test a.test www.a.test\n", 1, 0, "a.test:2", NULL },
	/* hostile lines: each refused alone */
	{ "a.test\nbad_name!.test b.test\nc.test\n", 2, 1, "a.test:1 c.test:1", "f:2: \"bad_name!.test\" is not" },
	{ "a.test\nb.test a.test\nc.test\n", 2, 1, "a.test:1 c.test:1", "f:2: a.test is already" },
	{ "managed.example.test\nb.test\n", 1, 1, "b.test:1", "f:1: managed.example.test is already" },
	{ "a.test\n-a.test\n", 1, 1, "a.test:1", "f:2:" },
	{ "a..test\nb.test\n", 1, 1, "b.test:1", "f:1:" },
	{ "b.test\n" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.test\n", 1, 1, "b.test:1", "f:2:" },
	{ "a.test/x b.test\n", 0, 1, "", "f:1:" },
	{ "#a.test\n b.test#c.test\n", 1, 0, "b.test:1", NULL },
	{ "*.a.test a.test\n", 1, 0, "*.a.test:2", NULL },
};

static size_t count_taken(const struct sites *s, char *buf, size_t cap)
{
	buf[0] = '\0';
	size_t at = 0;
	for (size_t i = 0; i < s->n; i++)
		at += (size_t)snprintf(buf + at, cap - at, "%s%s:%zu", i ? " " : "", s->v[i].names[0], s->v[i].nnames);
	return s->n;
}

static void table(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char path[] = "/tmp/at-sites-log-XXXXXX";
		int fd = mkstemp(path);
		close(fd);
		struct sites s;
		log_capture_begin(path);
		int rc = sites_parse(&s, r->text, strlen(r->text), "f", NULL, managed, 1);
		char *log = log_capture_end(path);
		unlink(path);
		char keys[512];
		CHECK_OK(rc);
		count_taken(&s, keys, sizeof(keys));
		if (s.n != r->nlines || s.nbad != r->nbad || strcmp(keys, r->keys) != 0)
			printf("  row %zu: %zu lines, %zu bad, \"%s\"\n", i, s.n, s.nbad, keys);
		CHECK_INT(s.n, ==, r->nlines);
		CHECK_INT(s.nbad, ==, r->nbad);
		CHECK_STR(keys, r->keys);
		int nlog = log_count_lines(log ? log : "", "f:", NULL);
		CHECK_INT(nlog, ==, (int)r->nbad);
		if (r->log)
			CHECK(log && strstr(log, r->log) != NULL);
		free(log);
		sites_clear(&s);
	}
}

/* A line of n names a0.big.test ... */
static char *big_line(size_t n, const char *tag)
{
	char *s = malloc(n * 40 + 64);
	size_t at = 0;
	for (size_t i = 0; i < n; i++)
		at += (size_t)sprintf(s + at, "%sn%zu.%s.test", i ? " " : "", i, tag);
	sprintf(s + at, "\n");
	return s;
}

static void name_limits(void)
{
	CHECK_INT(sites_name_limit(NULL), ==, 100);
	CHECK_INT(sites_name_limit("classic"), ==, 100);
	CHECK_INT(sites_name_limit("tlsserver"), ==, 25);
	CHECK_INT(sites_name_limit("shortlived"), ==, 25);
	const struct {
		size_t n;
		const char *profile;
		int ok;
	} cases[] = { { 100, NULL, 1 }, { 101, NULL, 0 }, { 25, "tlsserver", 1 }, { 26, "tlsserver", 0 },
		      { 30, "shortlived", 0 }, { 30, "classic", 1 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *line = big_line(cases[i].n, "big");
		char text[200000];
		snprintf(text, sizeof(text), "first.test\n%sthird.test\n", line);
		free(line);
		char path[] = "/tmp/at-sites-log-XXXXXX";
		int fd = mkstemp(path);
		close(fd);
		struct sites s;
		log_capture_begin(path);
		CHECK_OK(sites_parse(&s, text, strlen(text), "/etc/sites", cases[i].profile, NULL, 0));
		char *log = log_capture_end(path);
		unlink(path);
		CHECK_INT(s.n, ==, cases[i].ok ? 3u : 2u);
		CHECK_INT(s.nbad, ==, cases[i].ok ? 0u : 1u);
		if (!cases[i].ok)
			CHECK(log && strstr(log, "/etc/sites:2: more than") != NULL);
		if (cases[i].ok)
			CHECK_INT(s.v[1].nnames, ==, cases[i].n);
		free(log);
		sites_clear(&s);
	}
}

static void hostile_bytes(void)
{
	/* a NUL inside a line, a line over the cap, no final newline, CR LF */
	char text[SITES_LINE_MAX + 200];
	size_t at = 0;
	memcpy(text + at, "a.test\n", 7), at += 7;
	memcpy(text + at, "b.te\0st\n", 8), at += 8;
	memset(text + at, 'x', SITES_LINE_MAX + 1), at += SITES_LINE_MAX + 1;
	text[at++] = '\n';
	memcpy(text + at, "c.test\r\n", 8), at += 8;
	memcpy(text + at, "d.test", 6), at += 6;
	char path[] = "/tmp/at-sites-log-XXXXXX";
	int fd = mkstemp(path);
	close(fd);
	struct sites s;
	log_capture_begin(path);
	CHECK_OK(sites_parse(&s, text, at, "f", NULL, NULL, 0));
	char *log = log_capture_end(path);
	unlink(path);
	CHECK_INT(s.n, ==, 3u);
	CHECK_INT(s.nbad, ==, 2u);
	CHECK(log && strstr(log, "f:2: holds a NUL") && strstr(log, "f:3: longer than"));
	CHECK(s.n == 3 && s.v[2].line == 5 && strcmp(s.v[2].names[0], "d.test") == 0);
	free(log);
	sites_clear(&s);
}

static void from_a_file(void)
{
	char path[] = "/tmp/at-sites-XXXXXX";
	int fd = mkstemp(path);
	const char *t = "# sites\nx.test www.x.test\ny.test\n";
	CHECK(write(fd, t, strlen(t)) == (ssize_t)strlen(t));
	close(fd);
	struct sites s;
	CHECK_OK(sites_read(&s, path, NULL, NULL, 0));
	CHECK_INT(s.n, ==, 2u);
	CHECK(s.n == 2 && s.v[0].line == 2 && s.v[1].line == 3);
	sites_clear(&s);
	unlink(path);
	int saved = log_silence_begin();
	CHECK_INT(sites_read(&s, path, NULL, NULL, 0), ==, AT_E_IO);
	CHECK_INT(sites_read(&s, "/tmp", NULL, NULL, 0), ==, AT_E_IO);
	log_silence_end(saved);
}

/* 100,000 certificates issued in the same second (90 days): their renewals spread over days, no hour holds more
 * than a few percent of them, and none comes before the lifetime rule's point nor too close to the end. */
static void renewals_spread(void)
{
	enum { N = 100000 };
	time_t nb = 1800000000, na = nb + 90 * 86400;
	time_t due = at_renewal_time(nb, na, 0, 0);
	static unsigned hours[24 * 10 + 1];
	int before = 0, late = 0;
	for (int i = 0; i < N; i++) {
		char name[64];
		snprintf(name, sizeof(name), "site%d.example.test", i);
		time_t t = sites_renew_at(name, nb, na);
		before += t < due;
		late += t > due + 9 * 86400;
		if (t >= due && t <= due + 9 * 86400)
			hours[(t - due) / 3600]++;
	}
	unsigned max = 0;
	for (size_t h = 0; h < sizeof(hours) / sizeof(hours[0]); h++)
		max = hours[h] > max ? hours[h] : max;
	printf("  100,000 certificates issued at once: renewals over %d hours, at most %u in one hour (%.2f%%)\n",
	       9 * 24, max, 100.0 * max / N);
	CHECK_INT(before, ==, 0);
	CHECK_INT(late, ==, 0);
	CHECK(max < N / 100); /* an even spread is ~463 an hour; under 1% in any hour */
	/* the same name keeps its place; a 6-day certificate spreads over 0.6 days */
	CHECK(sites_renew_at("a.test", nb, na) == sites_renew_at("a.test", nb, na));
	time_t s6 = sites_renew_at("a.test", nb, nb + 6 * 86400);
	CHECK(s6 >= nb + 3 * 86400 && s6 <= nb + 3 * 86400 + 6 * 8640);
}

int main(void)
{
	RUN(renewals_spread);
	RUN(table);
	RUN(name_limits);
	RUN(hostile_bytes);
	RUN(from_a_file);
	return TEST_EXIT();
}
