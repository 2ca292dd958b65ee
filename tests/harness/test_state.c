/*
 * The counters tests/test.h's macros share, defined once per test binary (every unit, integration and bench
 * binary links the harness objects): a CHECK in a harness file and a CHECK in the test file fail the same test.
 * Also the failed checks' lines kept for their repeat after the FAIL line (test_fail).
 */
#include "tests/test.h"

#include <stdarg.h>

#define KEPT_FAILURES 4

int test_failed_now;
int test_passed_total;
int test_failed_total;

static char kept[KEPT_FAILURES][320];
static int nkept, nfailed;

void test_fail(const char *fmt, ...)
{
	char line[sizeof(kept[0])];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "  %s\n", line);
	fflush(stderr);
	test_failed_now = 1;
	if (nkept < KEPT_FAILURES)
		memcpy(kept[nkept++], line, sizeof(line));
	nfailed++;
}

void test_repeat_failures(void)
{
	for (int i = 0; i < nkept; i++)
		fprintf(stderr, "  (failed above) %s\n", kept[i]);
	if (nfailed > nkept)
		fprintf(stderr, "  (failed above) and %d more\n", nfailed - nkept);
	fflush(stderr);
	nkept = nfailed = 0;
}
