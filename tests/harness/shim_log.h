/*
 * The shim's log file (AUTOTLS_LOG of a shim_env) as a scenario reads it: whether a line holds a string, how
 * many do, waiting until enough do, and printing them for the report.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_LOG_H
#define AUTOTLS_TESTS_HARNESS_SHIM_LOG_H

#include "tests/harness/shim_env.h"

/* 1 when the shim's log has a line containing what, else 0. */
int shim_log_has(const struct shim_env *e, const char *what);

/* Lines of the shim's log holding a and (when not NULL) b. */
int shim_log_count(const struct shim_env *e, const char *a, const char *b);

/* Waits (polling every 20 ms) until the log has at least n lines with a (and b); the elapsed ms, or -1. */
long shim_log_wait(const struct shim_env *e, const char *a, const char *b, int n, long timeout_ms);

/* Prints the log's lines holding a (at most max), indented: what the report shows. */
void shim_log_print(const struct shim_env *e, const char *a, int max);

#endif
