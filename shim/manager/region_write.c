/*
 * The publisher's writable view of the region (see shim/shm.h: read-only to the server's processes). The
 * manager process maps it read-write from the descriptor it was started with; an in-process leader asks the
 * preload for a mapping of its own (shim_host.region_writable), which only a process that may reopen the memfd
 * read-write gets. Called by manager threads with the quiesce lock held (that lock keeps a host fork from
 * copying the mapping before the preload marks it MADV_DONTFORK).
 */
#include "shim/manager/manager.h"
#include "util/log.h"

#include <stdatomic.h>
#include <unistd.h>

struct shm_region *mgr_region_writable(void)
{
	static _Atomic pid_t told; /* the process that said it cannot write the region */
	if (mgr_host->shm == NULL || mgr_host->region_writable == NULL)
		return NULL;
	struct shm_region *w = mgr_host->region_writable();
	pid_t me = getpid();
	if (w == NULL && atomic_exchange(&told, me) != me) {
		/* News only where the process could have led (it may write the store); a worker that could not
		 * anyway says it at debug level. */
		if (mgr_can_lead())
			at_log_info("pid %d (uid %d) may write the store but not the shared region (it is read-only to the "
				    "server's processes); it leaves leading and publishing to a process that may", (int)me,
				    (int)geteuid());
		else
			at_log_debug("pid %d (uid %d) may not write the shared region; it does not publish", (int)me,
				     (int)geteuid());
	}
	return w;
}
