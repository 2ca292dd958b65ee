/* Attaching to the preload, the thread, the quiesce lock and fork (see manager.h). */
#include "shim/manager/manager.h"
#include "acme/http.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern pthread_mutex_t mgr_quiesce;
extern pthread_mutex_t mgr_publish_mu;

static void fork_prepare(void)
{
	pthread_mutex_lock(&mgr_quiesce);
	pthread_mutex_lock(&mgr_publish_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&mgr_publish_mu);
	pthread_mutex_unlock(&mgr_quiesce);
}

static void fork_child(void)
{
	/* The forking thread holds both locks in the child too: release them, then give the child its own
	 * manager thread (the parent's did not come along). */
	pthread_mutex_unlock(&mgr_publish_mu);
	pthread_mutex_unlock(&mgr_quiesce);
	mgr_forked_child = 1;
	if (mgr_thread_start() != 0)
		at_log_error("cannot start the manager thread after fork in pid %d", (int)getpid());
}

/* At exit the host's atexit handlers (OpenSSL's cleanup among them) free what the manager thread may be using.
 * Taking the quiesce lock for good parks the thread at its next step: the wait is for CPU work only (the lock is
 * released across every network wait and sleep), and the lock is never given back, as the process is ending.
 * Registered after OpenSSL's own handler, so it runs first. */
static void quiesce_at_exit(void)
{
	pthread_mutex_lock(&mgr_quiesce);
}

static void *thread_main(void *arg)
{
	(void)arg;
	/* Signals belong to the host's threads. */
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	mgr_host->set_in_manager(1);
	mgr_quiesce_enter();
	mgr_lead(); /* follows until it may lead; never returns while the process lives */
	mgr_quiesce_leave();
	return NULL;
}

int mgr_thread_start(void)
{
	pthread_t t;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &a, thread_main, NULL);
	pthread_attr_destroy(&a);
	return rc == 0 ? 0 : AT_E_NOMEM;
}

__attribute__((visibility("default"))) int autotls_manager_attach(const struct shim_host *host);

int autotls_manager_attach(const struct shim_host *host)
{
	if (host == NULL || host->version != SHIM_HOST_API_VERSION)
		return AT_E_INVAL;
	mgr_host = host;
	/* This library has its own copy of the logger: point it where the preload's goes. */
	if (at_log_open(host->cfg->log_sink, host->cfg->log_path, host->cfg->log_level) != 0)
		return AT_E_IO;
	*host->sync_now = mgr_sync;
	at_http_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0 || atexit(quiesce_at_exit) != 0)
		return AT_E_NOMEM;
	return mgr_thread_start();
}
