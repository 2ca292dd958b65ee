/*
 * The manager process's watch on its tree (autotls-manager only): it must exit when the whole server is gone
 * (tests and init scripts expect nothing left running) and must not exit while any process of the server runs
 * on, even one that closed every descriptor it had (close_range after start, daemon helpers), the lifeline's
 * write end included.
 *
 * So the lifeline is only a hint, and the proof is the region's mapping, which no close() takes away: every
 * process of the tree maps the region and touches its first page (its manager thread waits on the futex there),
 * and the kernel counts the page tables that map that page. /proc/self/pagemap reports, for our own mapping,
 * whether the page is mapped exclusively (PM_MMAP_EXCLUSIVE: only this process maps it). The page is mlocked
 * here, so reclaim never unmaps it from anybody (which would read as "exclusive" until the others fault it in
 * again); a migration could for an instant, so "exclusive" must be seen CONFIRMATIONS times in a row before the
 * manager exits. The check runs every CHECK_MS, and at once (then every CONFIRM_MS) when the lifeline reaches
 * end-of-file: a process's mappings go before its descriptors when it exits, so a server that stopped reads
 * "exclusive" at once, and one that closed its descriptors reads "shared" and keeps its manager (logged once).
 * Where pagemap cannot tell (not mounted, or the page not shown present), the lifeline's end decides, as
 * before.
 *
 * The thread owns the lifeline descriptor and the pagemap descriptor; it never touches OpenSSL, libcurl or the
 * store, and takes no lock, but once: as it leaves, mgr_fleet_leave gives back the locks this process holds on
 * an etcd store (fleet_exit.c: bounded, its own lock). Leaving with _exit is safe: writes to the store are atomic
 * renames (on etcd, single requests).
 */
#include "shim/manager/manager.h"
#include "shim/manager/fleet.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK_MS 1000
#define CONFIRM_MS 100
#define CONFIRMATIONS 3

#define PM_PRESENT (1ull << 63)
#define PM_MMAP_EXCLUSIVE (1ull << 56)

static const struct shm_region *region;
static int pagemap_fd = -1;
static int lifeline_fd = -1;

/* 1 when another process maps the region's first page, 0 when only we do, -1 when pagemap cannot tell. */
static int region_shared(void)
{
	uint64_t e = 0;
	long page = sysconf(_SC_PAGESIZE);
	/* Our own mapping of the page must be present for the answer to mean anything (it is mlocked). */
	(void)*(const volatile uint32_t *)&region->magic;
	if (pagemap_fd < 0 ||
	    pread(pagemap_fd, &e, sizeof(e), (off_t)((uintptr_t)region / (uintptr_t)page * sizeof(e))) != sizeof(e) ||
	    !(e & PM_PRESENT))
		return -1;
	return (e & PM_MMAP_EXCLUSIVE) ? 0 : 1;
}

static void gone(const char *why)
{
	at_log_info("autotls-manager pid %d: the server is gone (%s); exiting", (int)getpid(), why);
	mgr_fleet_leave(); /* an etcd store's locks: the next host need not wait for their leases (fleet_exit.c) */
	_exit(0);
}

static void *watch(void *arg)
{
	(void)arg;
	int exclusive = 0, told = 0; /* told: the "staying" line was logged */
	for (;;) {
		struct pollfd p = { .fd = lifeline_fd, .events = POLLIN };
		int n = poll(&p, 1, exclusive ? CONFIRM_MS : CHECK_MS);
		if (n > 0 && lifeline_fd >= 0) {
			char buf[64];
			ssize_t r = read(lifeline_fd, buf, sizeof(buf));
			if (r > 0 || (r < 0 && (errno == EINTR || errno == EAGAIN)))
				continue;
			close(lifeline_fd);
			lifeline_fd = -1;
			if (pagemap_fd < 0)
				gone("its lifeline closed");
		}
		int shared = region_shared();
		if (shared == 0) {
			if (++exclusive >= CONFIRMATIONS)
				gone("no process maps the region any more");
			continue;
		}
		exclusive = 0;
		if (shared > 0 && lifeline_fd < 0 && !told++)
			at_log_info("autotls-manager pid %d: the server closed its lifeline but still maps the region "
				    "(it closed its descriptors); staying", (int)getpid());
	}
	return NULL;
}

int mgr_tree_watch_start(const struct shm_region *shm, int lifeline)
{
	pthread_t t;
	region = shm;
	lifeline_fd = lifeline;
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (mlock(shm, (size_t)sysconf(_SC_PAGESIZE)) != 0)
		at_log_debug("autotls-manager: mlock of the region's first page: %s", strerror(errno));
	if (region_shared() < 0) {
		at_log_info("autotls-manager pid %d: /proc/self/pagemap cannot tell who maps the region; the lifeline "
			    "alone tells when the server is gone", (int)getpid());
		if (pagemap_fd >= 0)
			close(pagemap_fd);
		pagemap_fd = -1;
	}
	return pthread_create(&t, NULL, watch, NULL) == 0 ? 0 : AT_E_NOMEM;
}
