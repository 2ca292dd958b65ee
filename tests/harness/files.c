/*
 * A test's own files (see files.h).
 *
 * What it owns: nothing once it returns (the text it reads for a tail is freed here).
 */
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void harness_remove_tree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void harness_remove_or_keep(const char *dir)
{
	if (getenv("AUTOTLS_TEST_KEEP"))
		fprintf(stderr, "  kept %s\n", dir);
	else
		harness_remove_tree(dir);
}

int harness_copy_file(const char *from, const char *to, mode_t mode)
{
	size_t len = 0;
	char *data = harness_read_file(from, &len);
	int fd = -1, ret = -1;

	if (data == NULL)
		return -1;
	fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0 && write(fd, data, len) == (ssize_t)len && fchmod(fd, mode) == 0)
		ret = 0;
	if (fd >= 0 && close(fd) != 0)
		ret = -1;
	free(data);
	return ret;
}

int harness_print_tail(const char *title, const char *path, size_t max_bytes)
{
	size_t len = 0;
	char *text = path[0] ? harness_read_file(path, &len) : NULL;

	if (text == NULL)
		return -1;
	fprintf(stderr, "  --- %s (tail) ---\n%s\n  ---\n", title != NULL ? title : path,
		len > max_bytes ? text + len - max_bytes : text);
	free(text);
	return 0;
}

int harness_file_count_lines(const char *path, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}
