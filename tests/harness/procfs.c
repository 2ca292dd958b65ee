/* Processes as /proc shows them (see procfs.h). */
#include "tests/harness/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;
	if (fd < 0)
		return -1;
	while (off + 1 < cap) {
		ssize_t n = read(fd, buf + off, cap - 1 - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

int procfs_stat(pid_t pid, struct procfs_stat *out)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
	if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
		return -1;
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	size_t n = (size_t)(close_paren - open_paren - 1);
	if (n >= sizeof(out->comm))
		n = sizeof(out->comm) - 1;
	memcpy(out->comm, open_paren + 1, n);
	/* Fields from 3 on, after the command name (which may hold spaces). */
	char *p = close_paren + 1;
	for (int field = 3; field <= 22 && p && *p; field++) {
		while (*p == ' ')
			p++;
		switch (field) {
		case 3: out->state = *p; break;
		case 4: out->ppid = (pid_t)strtol(p, NULL, 10); break;
		case 5: out->pgid = (pid_t)strtol(p, NULL, 10); break;
		case 6: out->sid = (pid_t)strtol(p, NULL, 10); break;
		case 22: out->start = strtoull(p, NULL, 10); break;
		default: break;
		}
		p = strchr(p, ' ');
	}
	return 0;
}

int procfs_each_fd(pid_t pid, void (*fn)(int fd, const char *target, void *arg), void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	struct dirent *de;
	int count = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char link[384], target[512];
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		count++;
		fn(atoi(de->d_name), target, arg);
	}
	closedir(d);
	return count;
}

int procfs_env_has(pid_t pid, const char *entry)
{
	char path[64];
	static char buf[1 << 16];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0, len = strlen(entry);
	if (fd < 0)
		return 0;
	while (off + 1 < sizeof(buf)) {
		ssize_t n = read(fd, buf + off, sizeof(buf) - 1 - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; i < off;) {
		size_t l = strnlen(buf + i, off - i);
		if (l == len && memcmp(buf + i, entry, len) == 0)
			return 1;
		i += l + 1;
	}
	return 0;
}

/* Calls keep(pid, arg) for every process; collects those it accepts. */
static int scan(int (*keep)(pid_t pid, const struct procfs_stat *st, const void *arg), const void *arg, pid_t *out,
		int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int count = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct procfs_stat st;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(de->d_name);
		if (procfs_stat(pid, &st) != 0 || !keep(pid, &st, arg))
			continue;
		if (count < max)
			out[count] = pid;
		count++;
	}
	closedir(d);
	return count;
}

static int is_manager_of(pid_t pid, const struct procfs_stat *st, const void *arg)
{
	char entry[600];
	if (strcmp(st->comm, "autotls-manage") != 0 && strcmp(st->comm, "autotls-manager") != 0)
		return 0;
	if (st->state == 'Z' || st->state == 'X')
		return 0;
	snprintf(entry, sizeof(entry), "AUTOTLS_STORAGE=%s", (const char *)arg);
	return procfs_env_has(pid, entry);
}

int procfs_find_managers(const char *store, pid_t *out, int max)
{
	return scan(is_manager_of, store, out, max);
}

static int in_group(pid_t pid, const struct procfs_stat *st, const void *arg)
{
	(void)pid;
	return st->pgid == *(const pid_t *)arg && st->state != 'Z' && st->state != 'X';
}

int procfs_group_members(pid_t pgid, pid_t *out, int max)
{
	return scan(in_group, &pgid, out, max);
}
