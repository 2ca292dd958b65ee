/* The library constructor and the loading of the manager (see init.h). */
#include "shim/preload/init.h"
#include "shim/host_api.h"
#include "shim/preload/hooks.h"
#include "shim/preload/spawn.h"
#include "util/err.h"
#include "util/log.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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
static int shm_fd = -1;           /* the region's memfd (close-on-exec), kept for the life of the process;
				   * the host may close it (close_range after start): see region_fd */
static dev_t shm_dev;             /* what shm_fd named when it was made */
static ino_t shm_ino;

static int start_manager(void);

static const char *env(const char *name)
{
	return getenv(name);
}

static void set_in_manager(int on)
{
	in_manager = on;
}

/* A child forked while another thread of the host held attach_mu (a threaded host making its first server
 * context on one thread while another forks) would wait on it for ever at its own first context or manager
 * restart: the thread holding it did not come along. No prepare handler: taking attach_mu at every fork would put
 * it after the manager's fork locks (prepare handlers run in reverse order of registration, and the manager's are
 * registered later, inside the attach), against the lock order. The child gets a free lock instead; if the
 * parent was in the middle of the attach, attached is -1 in the child, which then serves the server's own
 * certificates and follows nothing rather than hang. */
static void attach_child(void)
{
	pthread_mutex_init(&attach_mu, NULL);
}

__attribute__((constructor)) static void autotls_init(void)
{
	int rc = shim_config_read(&config, env);
	if (rc != 0) {
		if (rc != AT_E_NOTFOUND) /* AT_E_NOTFOUND: AUTOTLS_DOMAINS unset, stay silent */
			at_log_error("configuration refused; the server runs without libautotls (see above)");
		return;
	}
	host.version = SHIM_HOST_API_VERSION;
	host.cfg = &config;
	host.publish = cache_publish;
	host.current = cache_current;
	host.sync_now = &hooks_sync_now;
	host.set_in_manager = set_in_manager;
	host.refused_seen = cache_refused_seen;
	host.start_manager = start_manager;
	if (pthread_atfork(NULL, NULL, attach_child) != 0)
		at_log_warn("cannot register a fork handler; a host that forks while it makes its first TLS context "
			    "may hang its child");
	active = 1;
}

bool shim_active(void)
{
	return active;
}

bool shim_in_manager(void)
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

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock the manager thread compares with (util/clock.c) */
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A descriptor of this tree's region, to hand to a new manager process: shm_fd while it still names the memfd
 * made here (a host may have closed it, or closed it and reused the number), else the region reopened through
 * this process's own mapping (/proc/self/map_files, which the kernel lets only privileged processes open).
 * -1 when there is none. Called with attach_mu held.
 */
static int region_fd(void)
{
	struct stat st;
	if (shm_fd >= 0 && fstat(shm_fd, &st) == 0 && st.st_dev == shm_dev && st.st_ino == shm_ino)
		return shm_fd;
	char path[96];
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)host.shm,
		 (unsigned long)host.shm + SHM_SIZE);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_dev != shm_dev || st.st_ino != shm_ino) {
		close(fd);
		return -1;
	}
	shm_fd = fd; /* the old number is the host's now: never close it */
	return fd;
}

/* Starts the tree's manager process with the region's descriptor (attach_mu held). 0 or a negative error. */
static int spawn_locked(int fd)
{
	char path[PATH_MAX];
	if (!may_manage())
		return AT_E_PERM;
	if (beside_me(path, sizeof(path), MANAGER_EXE) != 0)
		return AT_E_NOTFOUND;
	/* The manager gets this stderr only when it is a terminal the log goes to; otherwise its lines would be
	 * lost with the default sink, so it logs to syslog then (autotls_manager.c). */
	int tty = config.log_sink == AT_LOG_SINK_STDERR && isatty(STDERR_FILENO);
	if (config.log_sink == AT_LOG_SINK_STDERR && !tty)
		at_log_info("autotls-manager logs to syslog (this process's stderr is no terminal); set AUTOTLS_LOG "
			    "to a file to keep its lines with these");
	return spawn_manager(path, fd, tty);
}

/* host.start_manager: the tree's manager process died and this process claimed its restart (lead.c). */
static int start_manager(void)
{
	int rc = AT_E_STATE;
	pthread_mutex_lock(&attach_mu);
	if (host.shm != NULL) {
		int fd = region_fd();
		rc = fd < 0 ? AT_E_STATE : spawn_locked(fd);
	}
	pthread_mutex_unlock(&attach_mu);
	return rc;
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
		struct stat st;
		if (shm_create(&host.shm, &shm_fd) == 0 && fstat(shm_fd, &st) == 0) {
			shm_dev = st.st_dev;
			shm_ino = st.st_ino;
		}
		if (host.shm == NULL) {
			at_log_warn("cannot map the shared region; only the managing process will serve new certificates");
		} else if (may_manage()) {
			/* The tree waits for this start (lead.c) instead of electing an in-process leader. */
			atomic_store(&host.shm->start_claim, 1);
			atomic_store(&host.shm->start_at_ms, now_ms());
			if (spawn_locked(shm_fd) == 0) {
				/* Requests are served by the tree's manager process only. */
				if (config.on_demand) {
					hooks_on_demand_region = host.shm;
					hooks_on_demand = &config;
				}
			} else {
				atomic_store(&host.shm->start_at_ms, 0);
			}
		}
		if (beside_me(path, sizeof(path), MANAGER_SO) == 0) {
			in_manager = 1; /* libcurl's and libssl's constructors must not be hooked */
			void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			shim_manager_attach_fn attach = h ? (shim_manager_attach_fn)dlsym(h, SHIM_MANAGER_ATTACH) : NULL;
			int rc = attach ? attach(&host) : AT_E_NOTFOUND;
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
