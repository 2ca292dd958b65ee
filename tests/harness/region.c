/* A server's shared region from a test (see region.h). */
#include "tests/harness/region.h"
#include "tests/harness/proc.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct shm_region *harness_region_of(pid_t pid)
{
	char dir[64], path[320], target[256];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *de;
	void *p = MAP_FAILED;
	while (d && p == MAP_FAILED && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/memfd:autotls", 14) != 0)
			continue;
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			close(fd);
		}
	}
	if (d)
		closedir(d);
	return p == MAP_FAILED ? NULL : p;
}

static void wake_all(_Atomic uint32_t *word, int n)
{
	atomic_fetch_add(word, 1);
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

int harness_region_post_raw(struct shm_region *r, const char name[256])
{
	for (int tries = 0; tries < 10000; tries++) {
		for (int i = 0; i < SHM_REQ_SLOTS; i++) {
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

int harness_region_post(struct shm_region *r, const char *name)
{
	char raw[256];
	memset(raw, 0, sizeof(raw));
	snprintf(raw, sizeof(raw), "%s", name);
	return harness_region_post_raw(r, raw);
}

void harness_region_leave_mid_write(struct shm_region *r)
{
	atomic_fetch_add(&r->seq, (atomic_load(&r->seq) & 1) ? 2 : 1);
	atomic_fetch_add(&r->generation, 1);
	wake_all(&r->futex, INT_MAX);
}
