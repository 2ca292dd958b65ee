/*
 * Catching what the library logs (to stderr) while a scenario runs: log_begin sends stderr to a file, log_end
 * puts it back, passes the text through to the real stderr and returns it; count_lines_with counts the lines
 * holding a string. Header-only, like issue_env.h.
 */
#ifndef AUTOTLS_TESTS_INTEG_LOG_CAPTURE_H
#define AUTOTLS_TESTS_INTEG_LOG_CAPTURE_H

#include "tests/harness/pebble.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_saved_stderr = -1;

static inline void log_begin(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fflush(stderr);
	log_saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* The text logged since log_begin(path); the caller frees it (NULL when it cannot be read). */
static inline char *log_end(const char *path)
{
	fflush(stderr);
	dup2(log_saved_stderr, STDERR_FILENO);
	close(log_saved_stderr);
	log_saved_stderr = -1;
	char *text = harness_read_file(path, NULL);
	fprintf(stderr, "%s", text ? text : "");
	return text;
}

static inline int count_lines_with(const char *text, const char *needle)
{
	int n = 0;
	for (const char *l = text; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[2048];
		snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), l);
		n += strstr(line, needle) != NULL;
		l = e ? e + 1 : NULL;
	}
	return n;
}

#endif
