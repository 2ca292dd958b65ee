/* Mapping the shared region (see shim/shm.h). */
#include "shim/shm.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shm_region *map(int fd)
{
	void *p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Keys live here: keep them out of core dumps. Small pages: the manager tells whether the tree still maps
	 * the region from the first page's mapping count (shim/manager/helper.c), which is exact for small pages. */
	madvise(p, SHM_SIZE, MADV_DONTDUMP);
	madvise(p, SHM_SIZE, MADV_NOHUGEPAGE);
	return p;
}

struct shm_region *shm_create(int *fd_out)
{
	int fd = memfd_create("autotls", MFD_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct shm_region *r = NULL;
	if (ftruncate(fd, SHM_SIZE) == 0)
		r = map(fd);
	if (r == NULL) {
		close(fd);
		return NULL;
	}
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0 || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&r->mgr_alive, &a) != 0) {
		munmap(r, SHM_SIZE);
		close(fd);
		return NULL;
	}
	pthread_mutexattr_destroy(&a);
	r->magic = SHM_MAGIC;
	*fd_out = fd;
	return r;
}

struct shm_region *shm_map_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size != SHM_SIZE)
		return NULL;
	struct shm_region *r = map(fd);
	if (r && r->magic != SHM_MAGIC) {
		munmap(r, SHM_SIZE);
		return NULL;
	}
	return r;
}
