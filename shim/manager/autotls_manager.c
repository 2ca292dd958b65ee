/*
 * autotls-manager: the manager process of one server process tree (started by the preload, see
 * shim/preload/spawn.c). It reads the same AUTOTLS_* settings, maps the tree's shared region from fd 3 (the only
 * read-write descriptor of it) and the untrusted channel from fd 5 (shim/channel.h), and
 * runs the manager's loop: it leads (election lock, ACME, publishing) or, when another tree's manager leads
 * the store, copies certificates from the store into its tree's region. It holds the region's liveness mutex
 * for its life (shim/shm.h), and exits when no process of its server is left (tree_watch.c).
 *
 * Detached (see shim/preload/spawn.c): it closes every descriptor above the lifeline first (whoever started it),
 * then forks: the process the host spawned exits at once (the host reaps it) and the manager runs on as its
 * child, in the session posix_spawn made for it: no child of the host's. Its log goes where AUTOTLS_LOG says; with the default
 * (stderr) and no terminal on fd 2 (the host's stderr is never handed over otherwise), it goes to syslog.
 *
 * With --host it is the host manager instead (host_service.c): a service of its own that leads the store for
 * servers that cannot.
 */
#include "shim/manager/manager.h"
#include "shim/manager/host_service.h"
#include "acme/http.h"
#include "store/lock_file.h"
#include "util/err.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHM_FD 3
#define LIFELINE_FD 4
#define CHAN_FD 5

static struct shim_config config;
static struct shim_host host;

static const char *env(const char *name)
{
	return getenv(name);
}

/* The manager process publishes through its own read-write mapping (fd 3 was opened O_RDWR for it). */
static struct shm_region *own_region(void)
{
	return host.shm;
}

static void no_in_manager(int on)
{
	(void)on;
}

/* Closes every descriptor above the lifeline: whatever started us, nothing of it is kept. */
static void close_inherited(void)
{
	if (syscall(SYS_close_range, CHAN_FD + 1, ~0U, 0) == 0)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = CHAN_FD + 1; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close((int)fd);
}

/* Forks the manager off and exits in the parent (the process the host spawned, which the host reaps at once).
 * Returns in the manager only. */
static void detach(void)
{
	/* The process that started us: its listeners tell when the host can answer a validation (ready.c). */
	mgr_tree_pid = getppid();
	pid_t pid = fork();
	if (pid < 0) {
		at_log_error("autotls-manager: fork: %s", strerror(errno));
		_exit(1);
	}
	if (pid > 0)
		_exit(0);
	/* Every path the manager uses is absolute: keep no directory of the host's busy. */
	if (chdir("/") != 0)
		at_log_debug("autotls-manager: chdir /: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	/* The host manager (autotls.service): a service of its own, no tree, no descriptors handed over. */
	if (argc == 2 && strcmp(argv[1], "--host") == 0)
		return mgr_host_service_main();
	if (argc > 1) {
		at_log_error("autotls-manager: usage: autotls-manager --host (the host manager; without arguments it "
			     "is started by libautotls.so)");
		return 2;
	}
	close_inherited();
	if (shim_config_read(&config, env) != 0)
		return 2;
	if (config.log_sink == AT_LOG_SINK_STDERR && !isatty(STDERR_FILENO) &&
	    at_log_open(AT_LOG_SINK_SYSLOG, NULL, config.log_level) != 0)
		return 2;
	struct shm_region *shm = NULL;
	struct shm_channel *chan = NULL;
	if (fcntl(SHM_FD, F_GETFL) < 0 || (fcntl(SHM_FD, F_GETFL) & O_ACCMODE) != O_RDWR || shm_map_fd(&shm, SHM_FD) != 0 ||
	    chan_map_fd(&chan, CHAN_FD) != 0) {
		at_log_error("autotls-manager: fds %d and %d are not a libautotls region (read-write) and channel; it is "
			     "started by libautotls.so", SHM_FD, CHAN_FD);
		return 2;
	}
	detach();
	host.version = SHIM_HOST_API_VERSION;
	host.cfg = &config;
	host.shm = shm;
	host.chan = chan;
	host.region_writable = own_region;
	host.set_in_manager = no_in_manager;
	mgr_host = &host;
	mgr_is_helper = 1;
	at_http_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	at_lockset_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	/* The tree's liveness mutex, held by this (main) thread for the life of the process: the tree knows we
	 * live from it (shim/shm.h). Another manager holding it means this one is not needed. */
	int took_over = 0;
	if (shm_manager_claim(shm, &took_over) != 0) {
		at_log_debug("autotls-manager pid %d: another manager process serves this tree; exiting", (int)getpid());
		return 0;
	}
	if (took_over)
		at_log_info("autotls-manager pid %d takes over from the tree's previous manager process", (int)getpid());
	if (mgr_tree_watch_start(shm, LIFELINE_FD) != 0)
		return 1;
	if (mgr_ondemand_start() != 0)
		at_log_error("cannot start the on-demand thread");
	if (mgr_sites_start() != 0)
		at_log_error("cannot start the sites file's threads (AUTOTLS_SITES)");
	mgr_quiesce_enter();
	mgr_lead();
	return 0;
}
