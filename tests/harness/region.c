/* A server's shared region from a test (see region.h). */
#include "tests/harness/region.h"
#include "tests/harness/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* An fd of pid's memfd named exactly name (readlink "/memfd:<name> (deleted)"), opened with flags; -1. */
static int memfd_of(pid_t pid, const char *name, int flags)
{
	char dir[64], path[320], target[256], want[128];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	DIR *d = opendir(dir);
	struct dirent *de;
	int fd = -1;
	while (d && fd < 0 && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, want) != 0)
			continue;
		fd = open(path, flags | O_CLOEXEC);
		if (fd < 0 && errno == EACCES && (flags & O_ACCMODE) == O_RDWR) {
			/* Not root: the memfd's owner lifts its 0400 for the reopen, as shim/preload/shm_map.c does. */
			int ro = open(path, O_RDONLY | O_CLOEXEC);
			char self[64];
			snprintf(self, sizeof(self), "/proc/self/fd/%d", ro);
			if (ro >= 0 && fchmod(ro, 0600) == 0) {
				fd = open(self, flags | O_CLOEXEC);
				fchmod(ro, 0400);
			}
			if (ro >= 0)
				close(ro);
		}
	}
	if (d)
		closedir(d);
	return fd;
}

/* Maps size bytes (0: the memfd's whole size) of pid's memfd called name read-write; NULL when it has none we
 * can open. */
static void *map_memfd_of(pid_t pid, const char *name, size_t size)
{
	struct stat st;
	int fd = memfd_of(pid, name, O_RDWR);
	if (fd < 0)
		return NULL;
	if (size == 0)
		size = fstat(fd, &st) == 0 ? (size_t)st.st_size : 0;
	void *p = size == 0 ? MAP_FAILED : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

struct shm_region *harness_region_of(pid_t pid)
{
	return map_memfd_of(pid, "autotls", 0);
}

struct shm_channel *harness_channel_of(pid_t pid)
{
	return map_memfd_of(pid, "autotls-chan", CHAN_SIZE);
}

static void wake_all(_Atomic uint32_t *word, int n)
{
	atomic_fetch_add(word, 1);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

int harness_channel_post_raw(struct shm_channel *r, const char name[256])
{
	for (int tries = 0; tries < 10000; tries++) {
		for (int i = 0; i < CHAN_REQ_SLOTS; i++) {
			uint32_t free_state = 0;
			if (!atomic_compare_exchange_strong(&r->req[i].state, &free_state, 1))
				continue;
			memcpy(r->req[i].name, name, 256);
			atomic_store(&r->req[i].state, 2);
			wake_all(&r->req_futex, 1);
			return 0;
		}
		harness_sleep_ms(1);
	}
	return -1;
}

int harness_channel_post(struct shm_channel *r, const char *name)
{
	char raw[256];
	memset(raw, 0, sizeof(raw));
	snprintf(raw, sizeof(raw), "%s", name);
	return harness_channel_post_raw(r, raw);
}

void harness_region_leave_mid_write(struct shm_region *r)
{
	atomic_fetch_add(&r->seq, (atomic_load(&r->seq) & 1) ? 2 : 1);
	atomic_fetch_add(&r->generation, 1);
	wake_all(&r->futex, INT_MAX);
}
