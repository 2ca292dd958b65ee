/*
 * The library's log as a test sees it (see log_capture.h).
 *
 * What it owns: the descriptor of the real stderr while a capture runs (saved_stderr); single-threaded use only,
 * as the tests call it from their main thread.
 */
#include "tests/harness/log_capture.h"
#include "tests/harness/pebble.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int saved_stderr = -1;

void log_capture_begin(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

char *log_capture_end(const char *path)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	char *text = harness_read_file(path, NULL);
	fprintf(stderr, "%s", text ? text : "");
	return text;
}

int log_silence_begin(void)
{
	int saved = dup(STDERR_FILENO), devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	fflush(stderr);
	if (saved >= 0 && devnull >= 0)
		dup2(devnull, STDERR_FILENO);
	if (devnull >= 0)
		close(devnull);
	return saved;
}

void log_silence_end(int saved)
{
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
}

/* The lines of text holding a (and b), at most max of them; each printed when print is set. */
static int matching_lines(const char *text, const char *a, const char *b, int max, int print)
{
	int n = 0;

	for (const char *l = text; l != NULL && *l != '\0' && n < max;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char *line = strndup(l, len);
		if (line != NULL && strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL)) {
			n++;
			if (print)
				fprintf(stderr, "    | %s\n", line);
		}
		free(line);
		l = e ? e + 1 : NULL;
	}
	return n;
}

int log_count_lines(const char *text, const char *a, const char *b)
{
	return matching_lines(text, a, b, INT_MAX, 0);
}

void log_print_lines(const char *text, const char *a, int max)
{
	matching_lines(text, a, NULL, max, 1);
}
