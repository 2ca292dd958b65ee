/*
 * A getenv for the configuration reader in tests (shim_config_read takes one): a table of NAME, value pairs
 * the test owns, so a test sets AUTOTLS_* without touching the process's environment (which the servers and
 * the library under test also read). The table and the values are borrowed and read at each lookup: a test may
 * point a value at a buffer it fills or changes later.
 */
#ifndef AUTOTLS_TESTS_HARNESS_FAKE_ENV_H
#define AUTOTLS_TESTS_HARNESS_FAKE_ENV_H

/* Makes table ("NAME", value, "NAME", value, ..., NULL; a NULL value is unset) the one fake_env_getenv reads.
 * NULL: every name unset. */
void fake_env_use(const char *const *table);

/* The value of name in the table in use, or NULL. */
const char *fake_env_getenv(const char *name);

#endif
