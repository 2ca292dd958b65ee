/* The library constructor and the loading of the manager (see init.h). */
#include "shim/preload/init.h"
#include "shim/host_api.h"
#include "shim/preload/hooks.h"
#include "shim/preload/spawn.h"
#include "util/log.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANAGER_SO "libautotls-manager.so"
#define MANAGER_EXE "autotls-manager"

static struct shim_config config;
static struct shim_host host;
static int active;
static _Thread_local int in_manager;
static pthread_mutex_t attach_mu = PTHREAD_MUTEX_INITIALIZER;
static int attached;              /* the manager is loaded (it survives fork with the address space) */
static _Atomic pid_t logged_pid;  /* the process that last logged "hooked" */
static int shm_fd = -1;           /* the region's memfd (close-on-exec), kept for the life of the process */

static const char *env(const char *name)
{
	return getenv(name);
}

static void set_in_manager(int on)
{
	in_manager = on;
}

__attribute__((constructor)) static void autotls_init(void)
{
	int rc = shim_config_read(&config, env);
	if (rc != 0) {
		if (rc != -401 /* AT_E_NOTFOUND: AUTOTLS_DOMAINS unset, stay silent */)
			at_log_error("configuration refused; the server runs without libautotls (see above)");
		return;
	}
	host.version = SHIM_HOST_API_VERSION;
	host.cfg = &config;
	host.publish = cache_publish;
	host.current = cache_current;
	host.sync_now = &hooks_sync_now;
	host.set_in_manager = set_in_manager;
	active = 1;
}

int shim_active(void)
{
	return active;
}

int shim_in_manager(void)
{
	return in_manager;
}

/* A file installed beside this library (the manager library and the manager process). */
static int beside_me(char *out, size_t size, const char *file)
{
	Dl_info info;
	if (dladdr((void *)beside_me, &info) == 0 || info.dli_fname == NULL)
		return -1;
	const char *slash = strrchr(info.dli_fname, '/');
	if (slash == NULL)
		return snprintf(out, size, "%s", file) < (int)size ? 0 : -1;
	int n = snprintf(out, size, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, file);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* Whether this process could manage the store now: its user can write the store (or create it). */
static int may_manage(void)
{
	const char *dir = config.storage;
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
		return 1;
	if (faccessat(AT_FDCWD, dir, F_OK, AT_EACCESS) == 0)
		return 0;
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash == NULL)
		return 0;
	if (slash == parent)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* The store's folders are created on the way down; a writable ancestor is enough to start. */
	while (faccessat(AT_FDCWD, parent, F_OK, AT_EACCESS) != 0 && (slash = strrchr(parent, '/')) && slash != parent)
		*slash = '\0';
	return faccessat(AT_FDCWD, parent, W_OK | X_OK, AT_EACCESS) == 0;
}

void shim_on_server_ctx(void)
{
	pid_t me = getpid();
	if (atomic_exchange(&logged_pid, me) != me) {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		at_log_info("hooked server SSL_CTX in %s (pid %d, uid %d); managing %s%s", exe, (int)me, (int)geteuid(),
			    config.domains[0], config.ndomains > 1 ? " and more" : "");
	}
	pthread_mutex_lock(&attach_mu);
	if (!attached) {
		char path[PATH_MAX];
		attached = -1;
		/* The shared region is mapped here, not in the constructor: every server we know makes its contexts
		 * before it forks its workers, and a process that never serves TLS should not pay for it. */
		host.shm = shm_create(&shm_fd);
		if (host.shm == NULL)
			at_log_warn("cannot map the shared region; only the managing process will serve new certificates");
		else if (may_manage() && beside_me(path, sizeof(path), MANAGER_EXE) == 0) {
			/* The manager gets this stderr only when it is a terminal the log goes to; otherwise its
			 * lines would be lost with the default sink, so it logs to syslog then (helper.c). */
			int tty = config.log_sink == AT_LOG_SINK_STDERR && isatty(STDERR_FILENO);
			if (config.log_sink == AT_LOG_SINK_STDERR && !tty)
				at_log_info("autotls-manager logs to syslog (this process's stderr is no terminal); set "
					    "AUTOTLS_LOG to a file to keep its lines with these");
			if (spawn_manager(path, shm_fd, tty) == 0) {
				/* Requests are served by the tree's manager process only. */
				if (config.on_demand) {
					hooks_on_demand_region = host.shm;
					hooks_on_demand = &config;
				}
			}
		}
		if (beside_me(path, sizeof(path), MANAGER_SO) == 0) {
			in_manager = 1; /* libcurl's and libssl's constructors must not be hooked */
			void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			shim_manager_attach_fn attach = h ? (shim_manager_attach_fn)dlsym(h, SHIM_MANAGER_ATTACH) : NULL;
			int rc = attach ? attach(&host) : -1;
			in_manager = 0;
			if (rc == 0)
				attached = 1;
			else
				at_log_error("cannot load %s (%s); serving the server's own certificates only", path,
					     h ? "attach failed" : dlerror());
		}
	}
	pthread_mutex_unlock(&attach_mu);
}
