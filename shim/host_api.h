/*
 * The interface between libautotls.so (the preloaded interposer) and libautotls-manager.so (the manager it
 * loads on the first server context). The preload owns everything here; the manager borrows it for the life
 * of the process and never unloads.
 */
#ifndef AUTOTLS_SHIM_HOST_API_H
#define AUTOTLS_SHIM_HOST_API_H

#include "shim/config.h"
#include "shim/preload/cache.h"
#include "shim/channel.h"
#include "shim/shm.h"

#define SHIM_HOST_API_VERSION 4

struct shim_host {
	int version;
	const struct shim_config *cfg;
	struct shm_region *shm;                        /* NULL when the mapping failed: single-process mode;
						        * read-only in the server's processes (shim/shm.h) */
	struct shm_channel *chan;                      /* the untrusted channel, read-write; NULL iff shm is */
	void (*publish)(struct cache_snapshot *s);     /* cache_publish */
	const struct cache_snapshot *(*current)(void); /* cache_current */
	int (**sync_now)(void);                        /* the manager sets *sync_now (hooks_sync_now) */
	void (*set_in_manager)(int on);                /* marks the calling thread as the manager's */
	unsigned (*refused_seen)(void);                /* cache_refused_seen; NULL in autotls-manager */
	/* Starts a new manager process for this tree (the last one died); 0 once it runs, or a negative error
	 * (this process may not manage the store, has no descriptor of the region any more, or the start
	 * failed). Blocks for milliseconds; called by the manager thread with the quiesce lock released. NULL in
	 * the manager process. */
	int (*start_manager)(void);
	/* A writable mapping of shm for this process's publisher, or NULL when this process may not write the
	 * region (a worker running as another user). Called by the manager thread with its quiesce lock held.
	 * In the manager process, shm itself. */
	struct shm_region *(*region_writable)(void);
	/* The manager sets *poll_now (hooks_poll) only in a process where its thread cannot start (threadless.c):
	 * every server handshake calls it, and it follows the store at most every few seconds. NULL in the manager
	 * process. */
	int (**poll_now)(void);
};

/* Exported by libautotls-manager.so. Returns 0 or a negative error (then the shim stays passive). */
typedef int (*shim_manager_attach_fn)(const struct shim_host *host);
#define SHIM_MANAGER_ATTACH "autotls_manager_attach"

#endif
