/*
 * In-house test macros (STYLE.md "Tests and build"). A test file is a plain main() that calls RUN() for each
 * test function. Each test prints one line, "PASS <file>:<test>" or "FAIL <file>:<test>", which tests/run.sh
 * counts; a failed CHECK prints where and why first. SKIP is not offered: a test that cannot run fails.
 */
#ifndef AUTOTLS_TESTS_TEST_H
#define AUTOTLS_TESTS_TEST_H

#include <stdio.h>
#include <string.h>

/* One set per test binary (tests/harness/test_state.c), so that a check made in a harness file (the shim
 * scenarios' checks, say) fails the test that called it, as one made in the test file does. */
extern int test_failed_now;   /* a CHECK failed in the test function RUN runs now */
extern int test_passed_total; /* test functions that passed / failed so far */
extern int test_failed_total;

/* Prints a failed check's line ("  file:line: ..."), marks the test failed, and keeps the first few such lines,
 * which RUN_AS prints again after the FAIL line: a test that prints a long log tail on failure (the shim's)
 * pushes its checks out of a truncated CI excerpt otherwise. */
void test_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the kept lines (after "FAIL ...") and forgets them; RUN_AS calls it. */
void test_repeat_failures(void);

#define CHECK(cond)                                                                                   \
	do {                                                                                          \
		if (!(cond))                                                                          \
			test_fail("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);              \
	} while (0)

/* CHECK and leave the test function at once (for preconditions). */
#define REQUIRE(cond)                                                                                 \
	do {                                                                                          \
		if (!(cond)) {                                                                        \
			test_fail("%s:%d: required: %s", __FILE__, __LINE__, #cond);                  \
			return;                                                                       \
		}                                                                                     \
	} while (0)

#define CHECK_INT(a, op, b)                                                                           \
	do {                                                                                          \
		long long a_ = (long long)(a), b_ = (long long)(b);                                   \
		if (!(a_ op b_))                                                                      \
			test_fail("%s:%d: check failed: %s %s %s (%lld vs %lld)", __FILE__, __LINE__, \
				  #a, #op, #b, a_, b_);                                               \
	} while (0)

#define CHECK_OK(expr) CHECK_INT((expr), ==, 0)

#define CHECK_STR(a, b)                                                                               \
	do {                                                                                          \
		const char *a_ = (a), *b_ = (b);                                                      \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                                  \
			test_fail("%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")", __FILE__,         \
				  __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
	} while (0)

/* Runs fn, a test function, and prints its line under name (a string): for a harness function whose name is
 * not the one the test has always reported (the shim scenarios). */
#define RUN_AS(fn, name)                                                                              \
	do {                                                                                          \
		test_failed_now = 0;                                                                  \
		fn();                                                                                 \
		printf("%s %s:%s\n", test_failed_now ? "FAIL" : "PASS", __FILE__, name);             \
		fflush(stdout);                                                                       \
		test_repeat_failures();                                                               \
		if (test_failed_now)                                                                  \
			test_failed_total++;                                                          \
		else                                                                                  \
			test_passed_total++;                                                          \
	} while (0)

#define RUN(fn) RUN_AS(fn, #fn)

#define TEST_EXIT() (test_failed_total ? 1 : 0)

#endif
