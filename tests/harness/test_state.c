/*
 * The counters tests/test.h's macros share, defined once per test binary (every unit, integration and bench
 * binary links the harness objects): a CHECK in a harness file and a CHECK in the test file fail the same test.
 */
#include "tests/test.h"

int test_failed_now;
int test_passed_total;
int test_failed_total;
