/* The manager's host, its quiesce lock (held for CPU work, released while waiting; see manager.h) and sleeps. */
#include "shim/manager/manager.h"
#include "util/clock.h"

#include <errno.h>
#include <time.h>

const struct shim_host *mgr_host;

pthread_mutex_t mgr_quiesce = PTHREAD_MUTEX_INITIALIZER;

void mgr_quiesce_enter(void)
{
	pthread_mutex_lock(&mgr_quiesce);
}

void mgr_quiesce_leave(void)
{
	pthread_mutex_unlock(&mgr_quiesce);
}

void mgr_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	mgr_quiesce_leave();
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	mgr_quiesce_enter();
}

/* The longest a thread holds the quiesce lock over a run of small steps: the manager's threads take turns under
 * it, and 10,000 stored sites found good at a restart (some 2 ms each) held it 20 s, so the leader's own
 * certificate waited that long to be published (make bench section 5); thousands of stored on-demand names
 * loaded at start timed the managed name's first GET out after 19 s (1,998 stored). */
#define SLICE_MS 20

void mgr_quiesce_slice(long *since_ms)
{
	if (at_clock_ms() - *since_ms < SLICE_MS)
		return;
	mgr_sleep_ms(1); /* the others' turn (a mutex is not fair: leave and enter would not do) */
	*since_ms = at_clock_ms();
}

