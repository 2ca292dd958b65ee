/* The manager's host, its quiesce lock (held for CPU work, released while waiting; see manager.h) and sleeps. */
#include "shim/manager/manager.h"

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

