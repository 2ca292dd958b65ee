/*
 * Running a command line the way an operator would (make install, autotls status) and keeping what it printed:
 * the operator tools' scenarios (test_7xx).
 */
#ifndef AUTOTLS_TESTS_HARNESS_COMMAND_H
#define AUTOTLS_TESTS_HARNESS_COMMAND_H

#include <stddef.h>

/* Runs cmdline through /bin/sh (the caller quotes; paths from mkdtemp need none), its stdout into out (cap
 * bytes, NUL-terminated, truncated beyond), its stderr to ours. The exit status (0-255), or -1 when it could not
 * run or died of a signal. */
int harness_command(const char *cmdline, char *out, size_t cap);

#endif
