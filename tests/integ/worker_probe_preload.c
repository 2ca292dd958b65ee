/*
 * A test helper loaded into the processes of a server under test (test_308), after libautotls.so in
 * LD_PRELOAD. It runs once in each process that is not root, when that process creates its event loop (nginx's
 * workers call epoll_create after they set their user), and tries, as a compromised worker would:
 *   - to store into the shared region's mapping (a SIGSEGV is caught and reported), to mprotect it writable, to
 *     map its descriptor writable, to pwrite it, to fchmod it, to reopen it read-write through /proc/self/fd,
 *     through /proc/<parent>/fd (the master's descriptor has the same number) and /proc/self/map_files;
 *   - then writes into the untrusted channel: names outside AUTOTLS_ALLOW, names that are not names, slots
 *     that are never NUL-terminated, slot states that mean nothing, forged restart words; and wakes the manager.
 * One line per process goes to $AUTOTLS_TEST_PROBE_OUT (appended with one write), with an errno name or "ok"
 * for each attempt; the test judges the line. Needs only libc; no part of libautotls is linked.
 */
#include "shim/channel.h"
#include "shim/shm.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Each probe posts WORKER_PROBE_POSTS (tests/harness/worker_probe.h) requests: the five names below and one
 * slot of bytes without a NUL. */

static pid_t probed;
static sigjmp_buf jump;

static const char *err_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	default: return "other";
	}
}

static void on_fault(int sig)
{
	siglongjmp(jump, sig);
}

/* Finds the mapping of /memfd:<name> in /proc/self/maps: its address, length and permissions. */
static int find_map(const char *name, void **addr, size_t *len, char perms[5])
{
	char want[96], line[512];
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char p[5] = { 0 };
		line[strcspn(line, "\n")] = '\0';
		const char *path = strchr(line, '/');
		if (path == NULL || strcmp(path, want) != 0 || sscanf(line, "%lx-%lx %4s", &a, &b, p) != 3)
			continue;
		if (!found || p[1] == 'w') { /* report a writable one if there is any */
			*addr = (void *)a;
			*len = b - a;
			memcpy(perms, p, 5);
		}
		found++;
	}
	if (f)
		fclose(f);
	return found;
}

/* The descriptors of /memfd:<name> this process holds: how many, how many of them are writable, one of them. */
static int find_fds(const char *name, int *writable, int *one)
{
	char want[96], path[300], target[128];
	snprintf(want, sizeof(want), "/memfd:%s (deleted)", name);
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;
	*writable = 0;
	*one = -1;
	while (d && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t k = readlink(path, target, sizeof(target) - 1);
		if (k <= 0)
			continue;
		target[k] = '\0';
		if (strcmp(target, want) != 0)
			continue;
		int fd = atoi(de->d_name);
		n++;
		*writable += (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY;
		*one = fd;
	}
	if (d)
		closedir(d);
	return n;
}

static int try_open(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int post(struct shm_channel *c, const char *raw, size_t n)
{
	for (int i = 0; i < CHAN_REQ_SLOTS; i++) {
		uint32_t free_state = 0;
		if (!atomic_compare_exchange_strong(&c->req[i].state, &free_state, 1))
			continue;
		memcpy(c->req[i].name, raw, n < 256 ? n : 256);
		atomic_store(&c->req[i].state, 2);
		return 1;
	}
	return 0;
}

/* A plain store of the byte that is already there (harmless where it works); a fault is caught and named. */
__attribute__((noinline)) static const char *try_store(void *addr)
{
	struct sigaction sa, old_segv, old_bus;
	const char *volatile what = "ok";
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	int sig = sigsetjmp(jump, 1);
	if (sig == 0) {
		volatile unsigned char *p = (volatile unsigned char *)addr + 64;
		*p = *p;
	} else {
		what = sig == SIGSEGV ? "SIGSEGV" : "SIGBUS";
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	return what;
}

static void probe(void)
{
	char out[1024];
	size_t o = 0;
	void *addr = NULL, *caddr = NULL;
	size_t len = 0, clen = 0;
	char perms[5] = "none", cperms[5] = "none";
	int maps = find_map("autotls", &addr, &len, perms);
	int wfds = 0, fd = -1, cwfds = 0, cfd = -1;
	int fds = find_fds("autotls", &wfds, &fd);
	int cmaps = find_map("autotls-chan", &caddr, &clen, cperms);
	int cfds = find_fds("autotls-chan", &cwfds, &cfd);
	o += (size_t)snprintf(out + o, sizeof(out) - o, "pid=%d uid=%d maps=%d perms=%s fds=%d rw_fds=%d", (int)getpid(),
			      (int)geteuid(), maps, perms, fds, wfds);

	const char *store = addr ? try_store(addr) : "no-map";
	int e_mprotect = addr ? (mprotect(addr, 4096, PROT_READ | PROT_WRITE) == 0 ? 0 : errno) : ENOENT;
	int e_mmap = ENOENT, e_pwrite = ENOENT, e_fchmod = ENOENT, e_self = ENOENT, e_master = ENOENT, e_mapf = ENOENT;
	if (fd >= 0) {
		void *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		e_mmap = w == MAP_FAILED ? errno : 0;
		if (w != MAP_FAILED)
			munmap(w, 4096);
		e_pwrite = pwrite(fd, "", 0, 0) == 0 && pwrite(fd, addr ? addr : "", 1, 0) == 1 ? 0 : errno;
		struct stat st;
		e_fchmod = fstat(fd, &st) == 0 && fchmod(fd, st.st_mode & 07777) == 0 ? 0 : errno;
		char path[96];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		e_self = try_open(path, O_RDWR);
		/* fork() copied the master's descriptor table: the master's region has the same number. */
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getppid(), fd);
		e_master = try_open(path, O_RDWR);
	}
	if (addr) {
		char path[96];
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)addr,
			 (unsigned long)addr + len);
		e_mapf = try_open(path, O_RDWR);
	}
	o += (size_t)snprintf(out + o, sizeof(out) - o,
			      " store=%s mprotect=%s mmap_rw=%s pwrite=%s fchmod=%s reopen_self=%s reopen_master=%s "
			      "map_files=%s",
			      store, err_name(e_mprotect), err_name(e_mmap), err_name(e_pwrite), err_name(e_fchmod),
			      err_name(e_self), err_name(e_master), err_name(e_mapf));

	/* The channel: garbage and names outside the allowlist, then a wake. */
	int posted = 0;
	if (caddr && cperms[1] == 'w') {
		struct shm_channel *c = caddr;
		char raw[256];
		static const char *const names[] = { "outside.example.com", "evil.test", "localhost", "10.0.0.1",
						     "UPPER.od.example.test" };
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			memset(raw, 0, sizeof(raw));
			snprintf(raw, sizeof(raw), "%s", names[i]);
			posted += post(c, raw, sizeof(raw));
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (char)(0x80 | (i * 37 + (size_t)getpid())); /* never NUL-terminated, not a name */
		posted += post(c, raw, sizeof(raw));
		/* Words that mean nothing where the manager's state lives and a forged restart. */
		atomic_store(&c->req[CHAN_REQ_SLOTS - 1].state, 0xdeadbeefu);
		atomic_store(&c->start_at_ms, INT64_MAX / 2);
		atomic_store(&c->leader_pid, -1);
		atomic_fetch_add(&c->req_futex, 1);
		syscall(SYS_futex, (uint32_t *)&c->req_futex, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
	o += (size_t)snprintf(out + o, sizeof(out) - o, " chan_maps=%d chan_perms=%s chan_fds=%d posted=%d\n", cmaps,
			      cperms, cfds, posted);
	const char *file = getenv("AUTOTLS_TEST_PROBE_OUT");
	int of = file ? open(file, O_WRONLY | O_APPEND | O_CLOEXEC) : -1;
	if (of >= 0) {
		if (write(of, out, o) != (ssize_t)o)
			o = 0;
		close(of);
	}
}

static void maybe_probe(void)
{
	if (geteuid() == 0 || probed == getpid())
		return;
	probed = getpid();
	int saved = errno;
	probe();
	errno = saved;
}

int epoll_create(int size)
{
	static int (*real)(int);
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "epoll_create");
	maybe_probe();
	return real(size);
}

int epoll_create1(int flags)
{
	static int (*real)(int);
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "epoll_create1");
	maybe_probe();
	return real(flags);
}
