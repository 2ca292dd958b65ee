/* The shim's log file as a scenario reads it (see shim_log.h). */
#include "tests/harness/shim_log.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/proc.h"

#include <stdlib.h>
#include <string.h>

int shim_log_has(const struct shim_env *e, const char *what)
{
	char *text = harness_read_file(e->log, NULL);
	int found = text != NULL && strstr(text, what) != NULL;
	free(text);
	return found;
}

int shim_log_count(const struct shim_env *e, const char *a, const char *b)
{
	char *text = harness_read_file(e->log, NULL);
	int n = log_count_lines(text, a, b);
	free(text);
	return n;
}

long shim_log_wait(const struct shim_env *e, const char *a, const char *b, int n, long timeout_ms)
{
	long start = harness_now_ms();
	while (shim_log_count(e, a, b) < n) {
		if (harness_now_ms() - start > timeout_ms)
			return -1;
		harness_sleep_ms(20);
	}
	return harness_now_ms() - start;
}

void shim_log_print(const struct shim_env *e, const char *a, int max)
{
	char *text = harness_read_file(e->log, NULL);
	log_print_lines(text, a, max);
	free(text);
}
