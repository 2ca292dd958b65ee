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

#define CHECK(cond)                                                                                   \
	do {                                                                                          \
		if (!(cond)) {                                                                        \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			fflush(stderr);                                                               \
			test_failed_now = 1;                                                          \
		}                                                                                     \
	} while (0)

/* CHECK and leave the test function at once (for preconditions). */
#define REQUIRE(cond)                                                                                 \
	do {                                                                                          \
		if (!(cond)) {                                                                        \
			fprintf(stderr, "  %s:%d: required: %s\n", __FILE__, __LINE__, #cond);       \
			fflush(stderr);                                                               \
			test_failed_now = 1;                                                          \
			return;                                                                       \
		}                                                                                     \
	} while (0)

#define CHECK_INT(a, op, b)                                                                           \
	do {                                                                                          \
		long long a_ = (long long)(a), b_ = (long long)(b);                                   \
		if (!(a_ op b_)) {                                                                    \
			fprintf(stderr, "  %s:%d: check failed: %s %s %s (%lld vs %lld)\n", __FILE__,  \
				__LINE__, #a, #op, #b, a_, b_);                                       \
			fflush(stderr);                                                               \
			test_failed_now = 1;                                                          \
		}                                                                                     \
	} while (0)

#define CHECK_OK(expr) CHECK_INT((expr), ==, 0)

#define CHECK_STR(a, b)                                                                               \
	do {                                                                                          \
		const char *a_ = (a), *b_ = (b);                                                      \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                \
			fprintf(stderr, "  %s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n",       \
				__FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");  \
			fflush(stderr);                                                               \
			test_failed_now = 1;                                                          \
		}                                                                                     \
	} while (0)

/* Runs fn, a test function, and prints its line under name (a string): for a harness function whose name is
 * not the one the test has always reported (the shim scenarios). */
#define RUN_AS(fn, name)                                                                              \
	do {                                                                                          \
		test_failed_now = 0;                                                                  \
		fn();                                                                                 \
		printf("%s %s:%s\n", test_failed_now ? "FAIL" : "PASS", __FILE__, name);             \
		fflush(stdout);                                                                       \
		if (test_failed_now)                                                                  \
			test_failed_total++;                                                          \
		else                                                                                  \
			test_passed_total++;                                                          \
	} while (0)

#define RUN(fn) RUN_AS(fn, #fn)

#define TEST_EXIT() (test_failed_total ? 1 : 0)

#endif
