/*
 * What each process of the tree says it serves, for `autotls status` (control.c asks): every process that
 * follows the region notes, in its own slot of the untrusted channel (shim/channel.h), the generation its cache
 * was synced to and when. A slot is claimed by CAS (its pid; a slot whose process is gone is taken over), noted
 * by the process itself on every sync (mgr_sync, under mgr_publish_mu: the notes of one process never race).
 *
 * Trust: any process of the tree writes any slot, so what is read here is displayed and nothing else; the
 * reader keeps only slots whose pid is a live process. A forged note can make status say a worker serves what
 * it does not: the worker could as well serve anything it likes, it is the server.
 * Never: block, take a lock, or make a system call on the sync path but kill(pid, 0) when claiming a slot.
 */
#include "shim/manager/control.h"
#include "shim/manager/manager.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static int my_slot = -1;
static pid_t my_pid; /* the pid my_slot was claimed for: a forked child claims its own */

static int gone(int32_t pid)
{
	return pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static int claim(struct shm_channel *ch, int32_t me)
{
	for (int i = 0; i < CHAN_SEEN_SLOTS; i++)
		if (atomic_load(&ch->seen[i].pid) == me)
			return i;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < CHAN_SEEN_SLOTS; i++) {
			int32_t cur = atomic_load(&ch->seen[i].pid);
			if ((pass == 0 ? cur != 0 : !gone(cur)) || cur == me)
				continue;
			if (atomic_compare_exchange_strong(&ch->seen[i].pid, &cur, me))
				return i;
		}
	}
	return -1;
}

void mgr_seen_note(uint64_t generation)
{
	struct shm_channel *ch = mgr_host->chan;
	if (ch == NULL)
		return;
	pid_t me = getpid();
	if (my_slot < 0 || my_pid != me || atomic_load(&ch->seen[my_slot].pid) != (int32_t)me) {
		my_pid = me;
		my_slot = claim(ch, (int32_t)me);
		if (my_slot < 0)
			return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_store(&ch->seen[my_slot].generation, generation);
	atomic_store(&ch->seen[my_slot].at_ms, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void mgr_seen_list(struct mgr_seen *out, size_t max, size_t *n)
{
	struct shm_channel *ch = mgr_host->chan;
	*n = 0;
	if (ch == NULL)
		return;
	for (int i = 0; i < CHAN_SEEN_SLOTS && *n < max; i++) {
		int32_t pid = atomic_load(&ch->seen[i].pid);
		if (pid == 0)
			continue;
		if (gone(pid)) {
			atomic_compare_exchange_strong(&ch->seen[i].pid, &pid, 0);
			continue;
		}
		out[*n].pid = (pid_t)pid;
		out[*n].generation = atomic_load(&ch->seen[i].generation);
		out[*n].at_ms = atomic_load(&ch->seen[i].at_ms);
		(*n)++;
	}
}
