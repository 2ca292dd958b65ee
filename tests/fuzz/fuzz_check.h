/*
 * The one macro the libFuzzer targets share: a broken property is a crash (abort), which libFuzzer reports
 * with the input that caused it. Test code only; the library itself never aborts.
 */
#ifndef AUTOTLS_TESTS_FUZZ_FUZZ_CHECK_H
#define AUTOTLS_TESTS_FUZZ_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                              \
		}                                                                             \
	} while (0)

#endif
