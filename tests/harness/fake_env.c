/*
 * The fake environment of the configuration tests (see fake_env.h).
 *
 * What it owns: the pointer to the table in use (the table itself is the test's).
 */
#include "tests/harness/fake_env.h"

#include <stddef.h>
#include <string.h>

static const char *const *table_in_use;

void fake_env_use(const char *const *table)
{
	table_in_use = table;
}

const char *fake_env_getenv(const char *name)
{
	for (size_t i = 0; table_in_use != NULL && table_in_use[i] != NULL; i += 2)
		if (strcmp(table_in_use[i], name) == 0)
			return table_in_use[i + 1];
	return NULL;
}
