/* See solver_lock.h. */
#include "tests/harness/solver_lock.h"
#include "challenge/wait_hooks.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t solver_lock = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;

static void take(void)
{
	int e = pthread_mutex_lock(&solver_lock);
	if (e != 0) {
		fprintf(stderr, "solver lock: taken again by its holder (%s): a wait hook out of turn\n", strerror(e));
		abort();
	}
}

static void release(void)
{
	int e = pthread_mutex_unlock(&solver_lock);
	if (e != 0) {
		fprintf(stderr, "solver lock: released without being held (%s): a wait hook out of turn\n",
			strerror(e));
		abort();
	}
}

void harness_solver_lock_hold(void)
{
	take();
	at_challenge_set_wait_hooks(release, take);
}

void harness_solver_lock_drop(void)
{
	at_challenge_set_wait_hooks(NULL, NULL);
	release();
}
