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
#include <sys/mman.h>
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
static int shm_fd = -1;           /* the region's memfd, O_RDONLY (close-on-exec), kept for the life of the
				   * process; the host may close it (close_range after start): see kept_fd */
static dev_t shm_dev;             /* what shm_fd named when it was made */
static ino_t shm_ino;
static int chan_fd = -1;          /* the untrusted channel's memfd (read-write: every process writes it) */
static dev_t chan_dev;
static ino_t chan_ino;
/* This process's writable mapping of the region, made on demand for an in-process leader (region_writable):
 * MADV_DONTFORK, so no child inherits it. wmap_mu is a leaf lock (taken under the manager's quiesce lock). */
static pthread_mutex_t wmap_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shm_region *wmap;
static pid_t wmap_pid;    /* the process wmap belongs to (a fork's child has none) */
static pid_t wmap_denied; /* the process that found it cannot reopen the region read-write */

static int start_manager(void);
static struct shm_region *region_writable(void);

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
	host.region_writable = region_writable;
	host.poll_now = &hooks_poll;
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

/* Whether this process could manage the store now: its user can write the store (or create it); with etcd, this
 * host's own folder (the election lock, run/). */
static int may_manage(void)
{
	const char *dir = config.state_dir; /* the store folder, or this host's own with etcd (config.h) */
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
 * A descriptor of one of this tree's memfds (the region, the channel): *fd while it still names the memfd made
 * here (a host may have closed it, or closed it and reused the number), else the memfd reopened through this
 * process's own mapping of it (/proc/self/map_files, which the kernel lets only privileged processes open),
 * with flags (the region: O_RDONLY, never more). -1 when there is none. Called with attach_mu held.
 */
static int kept_fd(int *fd, dev_t dev, ino_t ino, const void *map, size_t len, int flags)
{
	struct stat st;
	if (*fd >= 0 && fstat(*fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino)
		return *fd;
	char path[96];
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)map, (unsigned long)map + len);
	int r = open(path, flags | O_CLOEXEC);
	if (r < 0)
		return -1;
	if (fstat(r, &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
		close(r);
		return -1;
	}
	*fd = r; /* the old number is the host's now: never close it */
	return r;
}

/*
 * host.region_writable: a writable mapping of the region for this process's in-process leader, or NULL when
 * this process may not have one. It reopens the region read-write (shm_open_writable: a privileged process or
 * the memfd's owner can; a worker running as another user cannot), maps it MADV_DONTFORK (no child of this
 * process inherits it), and closes the descriptor at once. The manager thread calls it with its quiesce lock
 * held, which every fork() of the host takes too (thread_life.c): no fork can copy the mapping before
 * MADV_DONTFORK is set, nor the descriptor before it is closed. Remembered per process, refusals too.
 */
static struct shm_region *region_writable(void)
{
	struct shm_region *r = NULL;
	pid_t me = getpid();
	pthread_mutex_lock(&wmap_mu);
	if (wmap != NULL && wmap_pid == me) {
		r = wmap;
		goto out;
	}
	if (host.shm == NULL || wmap_denied == me)
		goto out;
	wmap = NULL;
	/* shm_fd is read without attach_mu (a leaf lock here): a stale number fails the inode check below. */
	struct stat st;
	int fd = shm_fd, own = 0;
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_dev != shm_dev || st.st_ino != shm_ino) {
		char path[96];
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)host.shm,
			 (unsigned long)host.shm + shm_size(host.shm));
		fd = open(path, O_RDONLY | O_CLOEXEC);
		own = 1;
	}
	int rw = fd >= 0 ? shm_open_writable(fd) : -1;
	if (own && fd >= 0)
		close(fd);
	size_t size = shm_size(host.shm);
	void *p = rw >= 0 ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, rw, 0) : MAP_FAILED;
	if (rw >= 0)
		close(rw);
	if (p == MAP_FAILED || madvise(p, size, MADV_DONTFORK) != 0) {
		if (p != MAP_FAILED)
			munmap(p, size);
		wmap_denied = me;
		goto out;
	}
	madvise(p, size, MADV_DONTDUMP);
	madvise(p, size, MADV_NOHUGEPAGE);
	wmap = r = p;
	wmap_pid = me;
out:
	pthread_mutex_unlock(&wmap_mu);
	return r;
}

/* Starts the tree's manager process with the region's and the channel's descriptors (attach_mu held). 0 or a
 * negative error. */
static int spawn_locked(int fd, int cfd)
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
	return spawn_manager(path, fd, cfd, tty);
}

/* host.start_manager: the tree's manager process died and this process claimed its restart (lead.c). */
static int start_manager(void)
{
	int rc = AT_E_STATE;
	pthread_mutex_lock(&attach_mu);
	if (host.shm != NULL) {
		int fd = kept_fd(&shm_fd, shm_dev, shm_ino, host.shm, shm_size(host.shm), O_RDONLY);
		int cfd = kept_fd(&chan_fd, chan_dev, chan_ino, host.chan, CHAN_SIZE, O_RDWR);
		rc = fd < 0 || cfd < 0 ? AT_E_STATE : spawn_locked(fd, cfd);
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
		if (config.ndomains > 0)
			at_log_info("hooked server SSL_CTX in %s (pid %d, uid %d); managing %s%s", exe, (int)me,
				    (int)geteuid(), config.domains[0], config.ndomains > 1 ? " and more" : "");
		else
			at_log_info("hooked server SSL_CTX in %s (pid %d, uid %d); managing the sites of %s", exe,
				    (int)me, (int)geteuid(), config.sites);
	}
	pthread_mutex_lock(&attach_mu);
	if (!attached) {
		char path[PATH_MAX];
		attached = -1;
		/* The shared region is mapped here, not in the constructor: every server we know makes its contexts
		 * before it forks its workers, and a process that never serves TLS should not pay for it. */
		struct stat st;
		/* Sized to what the tree can hold (shim/shm.h: address-space caps in forked processes). */
		size_t size = config.on_demand || config.sites != NULL ? SHM_SIZE_LARGE : SHM_SIZE_SMALL;
		if (shm_create(&host.shm, &shm_fd, size) == 0 && fstat(shm_fd, &st) == 0) {
			shm_dev = st.st_dev;
			shm_ino = st.st_ino;
		}
		/* What the server's processes write (on-demand requests, restart claims) goes through the channel:
		 * the region is read-only to them (shim/shm.h, shim/channel.h). */
		if (host.shm != NULL && (chan_create(&host.chan, &chan_fd) != 0 || fstat(chan_fd, &st) != 0)) {
			if (host.chan != NULL) {
				munmap(host.chan, CHAN_SIZE);
				close(chan_fd);
				host.chan = NULL;
				chan_fd = -1;
			}
			munmap(host.shm, shm_size(host.shm));
			close(shm_fd);
			host.shm = NULL;
			shm_fd = -1;
		} else if (host.shm != NULL) {
			chan_dev = st.st_dev;
			chan_ino = st.st_ino;
		}
		if (host.shm == NULL) {
			at_log_warn("cannot map the shared region; only the managing process will serve new certificates");
		} else if (may_manage()) {
			/* The tree waits for this start (lead.c) instead of electing an in-process leader. */
			atomic_store(&host.chan->start_claim, 1);
			atomic_store(&host.chan->start_at_ms, now_ms());
			if (spawn_locked(shm_fd, chan_fd) == 0) {
				/* Requests are served by the tree's manager process only. */
				if (config.on_demand) {
					hooks_on_demand_region = host.shm;
					hooks_on_demand_channel = host.chan;
					hooks_on_demand = &config;
				}
			} else {
				atomic_store(&host.chan->start_at_ms, 0);
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
