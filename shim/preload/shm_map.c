/* Mapping the shared region (see shim/shm.h). */
#include "shim/shm.h"
#include "util/err.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shm_region *map(int fd)
{
	void *p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Keys live here: keep them out of core dumps. Small pages: the manager tells whether the tree still maps
	 * the region from the first page's mapping count (shim/manager/autotls_manager.c), which is exact for
	 * small pages. */
	madvise(p, SHM_SIZE, MADV_DONTDUMP);
	madvise(p, SHM_SIZE, MADV_NOHUGEPAGE);
	return p;
}

int shm_create(struct shm_region **out, int *fd_out)
{
	int fd = memfd_create("autotls", MFD_CLOEXEC);
	if (fd < 0)
		return AT_E_IO;
	if (ftruncate(fd, SHM_SIZE) != 0) {
		close(fd);
		return AT_E_IO;
	}
	struct shm_region *r = map(fd);
	if (r == NULL) {
		close(fd);
		return AT_E_NOMEM;
	}
	pthread_mutexattr_t a;
	if (pthread_mutexattr_init(&a) != 0 || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&r->mgr_alive, &a) != 0) {
		munmap(r, SHM_SIZE);
		close(fd);
		return AT_E_NOMEM;
	}
	pthread_mutexattr_destroy(&a);
	r->magic = SHM_MAGIC;
	*out = r;
	*fd_out = fd;
	return 0;
}

int shm_map_fd(struct shm_region **out, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || (size_t)st.st_size != SHM_SIZE)
		return AT_E_INVAL;
	struct shm_region *r = map(fd);
	if (r == NULL)
		return AT_E_NOMEM;
	if (r->magic != SHM_MAGIC) {
		munmap(r, SHM_SIZE);
		return AT_E_INVAL;
	}
	*out = r;
	return 0;
}
