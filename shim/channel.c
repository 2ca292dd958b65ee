/* The untrusted channel (see channel.h): made by the preload, mapped by the manager process, read by both. */
#include "shim/channel.h"
#include "util/err.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shm_channel *chan_mmap(int fd)
{
	void *p = mmap(NULL, CHAN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

int chan_create(struct shm_channel **out, int *fd_out)
{
	int fd = memfd_create("autotls-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return AT_E_IO;
	/* Sealed before anyone else has it: no process can truncate it under another's mapping (SIGBUS), nor
	 * grow it, nor unseal it. */
	if (ftruncate(fd, (off_t)CHAN_SIZE) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		close(fd);
		return AT_E_IO;
	}
	struct shm_channel *c = chan_mmap(fd);
	if (c == NULL) {
		close(fd);
		return AT_E_NOMEM;
	}
	c->magic = CHAN_MAGIC;
	*out = c;
	*fd_out = fd;
	return 0;
}

int chan_map_fd(struct shm_channel **out, int fd)
{
	struct stat st;
	int seals = fcntl(fd, F_GET_SEALS);
	if (fstat(fd, &st) != 0 || (size_t)st.st_size != CHAN_SIZE || seals < 0 || !(seals & F_SEAL_SHRINK))
		return AT_E_INVAL;
	struct shm_channel *c = chan_mmap(fd);
	if (c == NULL)
		return AT_E_NOMEM;
	if (c->magic != CHAN_MAGIC) {
		munmap(c, CHAN_SIZE);
		return AT_E_INVAL;
	}
	*out = c;
	return 0;
}

int chan_take_request(struct shm_channel *c, char name[256])
{
	for (int i = 0; i < CHAN_REQ_SLOTS; i++) {
		uint32_t ready = 2;
		if (!atomic_compare_exchange_strong(&c->req[i].state, &ready, 3))
			continue;
		/* A writer may still be scribbling on the slot: copy it once, and judge only the copy. */
		memcpy(name, c->req[i].name, 256);
		name[255] = '\0';
		atomic_store_explicit(&c->req[i].state, 0, memory_order_release);
		return 0;
	}
	return AT_E_NOTFOUND;
}
