/*
 * Named leased locks of the file backend (see the design paragraph in store/lock_file.c).
 */
#ifndef AUTOTLS_STORE_LOCK_FILE_H
#define AUTOTLS_STORE_LOCK_FILE_H

#include "util/err.h"

#include <stddef.h>

#define AT_LOCK_HELD_MAX 64
#define AT_LOCK_TOKEN_LEN 32

struct at_lock_held {
	char name[254];
	char token[AT_LOCK_TOKEN_LEN + 1];
};

/* The locks one store object holds, and who we are. */
struct at_lockset {
	int dirfd;                /* owned: the store's ".locks" folder */
	/* held and nheld are only touched with the process-wide guard mutex of lock_file.c held */
	struct at_lock_held held[AT_LOCK_HELD_MAX];
	size_t nheld;
	char host[256];           /* gethostname(), for people reading a record */
	char node[128];           /* boot id + pid namespace: where a pid means the same process; "" if unknown */
};

/* Opens (creating 0700) ".locks" below root and fills in who we are. */
int at_lockset_init(struct at_lockset *ls, int root) AT_MUST_CHECK;

/* Releases every lock still held and closes the folder. */
void at_lockset_fini(struct at_lockset *ls);

/* Called around each pause between attempts to take a lock (nothing of the lock set is held then), as
 * at_http_set_wait_hooks: the manager releases its quiesce lock there, so that a fork or an exit never waits
 * for another process's lease. Set once, before any lock is taken. */
void at_lockset_set_wait_hooks(void (*begin)(void), void (*end)(void));
/* Sleeps ms between two attempts at something another process holds, inside the wait hooks above (the etcd
 * store's pauses between lock attempts and between rounds of its members go through it too). */
void at_lockset_pause_ms(long long ms);
/* Registers the lock set's fork handlers (otherwise done at its first lock). A caller with fork handlers of its
 * own that hold locks around lock set calls registers these first, so that they run after its own at a fork
 * (prepare handlers run in the reverse order of registration) and the lock order is the same as its thread's. */
void at_lockset_fork_handlers(void);

/* Takes name (a store component) for lease_s seconds (1..604800), waiting up to wait_ms. Not recursive: a second
 * lock of a held name, from any thread, waits like everyone else. Returns 0, AT_E_LOCKED, AT_E_BADNAME,
 * AT_E_RANGE (lease out of range, or AT_LOCK_HELD_MAX locks held) or a store error. */
int at_lockset_lock(struct at_lockset *ls, const char *name, int lease_s, int wait_ms)
	AT_MUST_CHECK;

/* Extends the lease of a held lock to now + lease_s. Returns 0, AT_E_STATE (not held by this store object) or
 * AT_E_LOCKED (the lease had ended and someone else took the lock; it is no longer ours). */
int at_lockset_refresh(struct at_lockset *ls, const char *name, int lease_s) AT_MUST_CHECK;

/* Releases a held lock. Same returns as at_lockset_refresh; the lock is not ours afterwards in every case. */
int at_lockset_unlock(struct at_lockset *ls, const char *name) AT_MUST_CHECK;

#endif
