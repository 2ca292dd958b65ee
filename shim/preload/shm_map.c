/* Mapping the shared region (see shim/shm.h): read-only in the server's processes, read-write in a manager. */
#include "shim/shm.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shm_region *map(int fd, int prot, size_t size)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Keys live here: keep them out of core dumps. Small pages: the manager tells whether the tree still maps
	 * the region from the first page's mapping count (shim/manager/autotls_manager.c), which is exact for
	 * small pages. */
	madvise(p, size, MADV_DONTDUMP);
	madvise(p, size, MADV_NOHUGEPAGE);
	return p;
}

static int reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int r = open(path, flags | O_CLOEXEC);
	return r >= 0 ? r : -errno;
}

int shm_open_writable(int fd)
{
	int rw = reopen(fd, O_RDWR);
	if (rw != -EACCES)
		return rw;
	/* Not privileged: the memfd's owner may lift its own 0400 for the reopen (fchmod needs ownership, not
	 * write access; anyone else gets EPERM here and stays read-only). */
	for (int tries = 0; tries < 8; tries++) {
		if (fchmod(fd, 0600) != 0)
			return -EACCES;
		rw = reopen(fd, O_RDWR);
		int saved = errno;
		fchmod(fd, 0400);
		errno = saved;
		if (rw != -EACCES)
			return rw;
		/* Another process of the tree (the same owner: workers forked together stand for election together)
		 * put 0400 back between this fchmod and this reopen: again, or this process would give up leading. */
		sched_yield();
	}
	return rw;
}

int shm_create(struct shm_region **out, int *fd_out, size_t size)
{
	if (size != SHM_SIZE_SMALL && size != SHM_SIZE_LARGE)
		return AT_E_INVAL;
	int fd = memfd_create("autotls", MFD_CLOEXEC);
	if (fd < 0)
		return AT_E_IO;
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		return AT_E_IO;
	}
	struct shm_region *r = map(fd, PROT_READ | PROT_WRITE, size);
	if (r == NULL) {
		close(fd);
		return AT_E_NOMEM;
	}
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0 || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&r->mgr_alive, &a) != 0) {
		munmap(r, size);
		close(fd);
		return AT_E_NOMEM;
	}
	pthread_mutexattr_destroy(&a);
	r->size = (uint32_t)size;
	r->magic = SHM_MAGIC;
	munmap(r, size);
	/* From here on this process (and every process it forks) holds the region read-only: a 0400 memfd (a
	 * memfd is 0777 by default, and anyone who holds any descriptor of it could reopen that read-write through
	 * /proc/self/fd), an O_RDONLY descriptor, and a PROT_READ mapping of that descriptor. */
	int ro = fchmod(fd, 0400) == 0 ? reopen(fd, O_RDONLY) : -1;
	close(fd);
	if (ro < 0)
		return AT_E_IO;
	r = map(ro, PROT_READ, size);
	if (r == NULL) {
		close(ro);
		return AT_E_NOMEM;
	}
	*out = r;
	*fd_out = ro;
	return 0;
}

int shm_map_fd(struct shm_region **out, int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fstat(fd, &st) != 0 || ((size_t)st.st_size != SHM_SIZE_SMALL && (size_t)st.st_size != SHM_SIZE_LARGE))
		return AT_E_INVAL;
	size_t size = (size_t)st.st_size;
	struct shm_region *r = map(fd, (fl & O_ACCMODE) == O_RDWR ? PROT_READ | PROT_WRITE : PROT_READ, size);
	if (r == NULL)
		return AT_E_NOMEM;
	/* The header's size is what every reader's bounds come from (shm_half): it must be the memfd's. */
	if (r->magic != SHM_MAGIC || r->size != size) {
		munmap(r, size);
		return AT_E_INVAL;
	}
	*out = r;
	return 0;
}
