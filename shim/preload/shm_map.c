/* Mapping the shared region (see shim/shm.h); the only part of it the preloaded library itself needs. */
#include "shim/shm.h"

#include <sys/mman.h>

struct shm_region *shm_create(void)
{
	void *p = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Keys live here: keep them out of core dumps. */
	madvise(p, SHM_SIZE, MADV_DONTDUMP);
	struct shm_region *r = p;
	r->magic = SHM_MAGIC;
	return r;
}

