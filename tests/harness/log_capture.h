/*
 * What a test does with the text the library logs: catching its stderr in a file while a scenario runs
 * (log_capture_begin / log_capture_end), keeping a noisy step quiet (log_silence_begin / log_silence_end: a
 * poll makes hundreds of failing handshakes, each of which would print why), and counting or printing the lines
 * of a text that hold a string.
 *
 * What it owns: the saved stderr of a capture between begin and end (one capture at a time).
 */
#ifndef AUTOTLS_TESTS_HARNESS_LOG_CAPTURE_H
#define AUTOTLS_TESTS_HARNESS_LOG_CAPTURE_H

/* Sends stderr to path (created 0600, truncated) until log_capture_end(path). */
void log_capture_begin(const char *path);

/* Puts stderr back, passes what was logged since log_capture_begin(path) through to it, and returns that text
 * (a new string the caller frees; NULL when it cannot be read). */
char *log_capture_end(const char *path);

/* Sends stderr to /dev/null; returns what log_silence_end needs to put it back (-1 when it could not). */
int log_silence_begin(void);
void log_silence_end(int saved);

/* The lines of text (NULL: none) holding a and, when b is not NULL, b too. */
int log_count_lines(const char *text, const char *a, const char *b);

/* Prints the lines of text (NULL: none) holding a, at most max, indented "    | " (what a report shows). */
void log_print_lines(const char *text, const char *a, int max);

#endif
