/*
 * A test's own files: removing its temporary folder (or keeping it when AUTOTLS_TEST_KEEP is set, to look at
 * after a failure), copying a file, counting the lines of a log that hold a string, and printing the tail of a
 * log for a failing test.
 */
#ifndef AUTOTLS_TESTS_HARNESS_FILES_H
#define AUTOTLS_TESTS_HARNESS_FILES_H

#include <stddef.h>
#include <sys/types.h>

/* Removes dir and everything below it, links not followed; errors are passed over. "" does nothing. */
void harness_remove_tree(const char *dir);

/* harness_remove_tree(dir), or, when AUTOTLS_TEST_KEEP is set, leaves it and prints "  kept <dir>". */
void harness_remove_or_keep(const char *dir);

/* Copies the file at from to to (created or truncated), with mode. 0 or -1. */
int harness_copy_file(const char *from, const char *to, mode_t mode);

/* Prints the last max_bytes of the file at path to stderr, headed "  --- <title> (tail) ---" (title NULL: the
 * path). 0, or -1 when the file cannot be read (nothing printed). */
int harness_print_tail(const char *title, const char *path, size_t max_bytes);

/* Lines of the file at path that contain needle (lines longer than 4 KiB count once per 4 KiB piece), or -1
 * when it cannot be read. */
int harness_file_count_lines(const char *path, const char *needle);

#endif
