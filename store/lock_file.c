/*
 * Named leased locks for the file backend, exclusive across the threads of a process, across processes and
 * across hosts that share the store folder (NFS with a lock manager).
 *
 * A lock is the file .locks/<name>.lock holding one JSON record: {"v":1, "host", "node", "pid", "start",
 * "lease_expires" (unix seconds, with milliseconds as a fraction, so short leases are not cut by a whole second),
 * "token"}. "node" is the kernel boot id plus the pid namespace: two records with the same node
 * name processes in the same pid space, so a pid (and its start time, /proc/<pid>/stat field 22, which tells a
 * reused pid apart) can be checked; across nodes only the lease counts, which assumes clocks agree to within a
 * small part of a lease. The token is random per acquisition: it is how a holder recognises its own record.
 *
 * Deciding "free, so it is mine" must be atomic. That is done under a guard: an fcntl write lock on
 * .locks/<name>.guard (per process, dropped by the kernel when the holder dies; served by lockd/NFSv4 over NFS)
 * plus the process-wide mutex guard_mu, because fcntl locks do not exclude the threads of one process (and
 * closing any descriptor of the file would drop them). Under the guard a caller reads the record and, when it is
 * absent, unreadable, past its lease, or names a process of this node that is gone, replaces it (temp file +
 * rename, fsynced) with its own. Unlock and refresh change the record only when the token is ours.
 *
 * The guard is held for a few file operations only, never while sleeping: waiting for a busy lock releases
 * everything between attempts (5 ms, doubling to 100 ms). Guard files are never deleted: a process blocked on
 * the lock of an unlinked guard would not exclude one that created a new file. guard_mu is taken around fork
 * (pthread_atfork) so a child never starts with it held.
 */
#include "store/lock_file.h"
#include "util/clock.h"
#include "store/fileio.h"
#include "store/keypath.h"
#include "util/err.h"
#include "util/log.h"
#include "util/wait_hooks.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCKS_DIR ".locks"
#define RECORD_MAX 4096
#define LEASE_MAX (7 * 86400)
#define GUARD_WAIT_MIN_MS 1000 /* even a try-once waits this long for the guard, which is only held briefly */
#define GUARD_WAIT_OPS_MS 5000 /* refresh and unlock */
#define NAME_MAX_LOCK 200      /* leaves room for ".guard" and ".tmp-" names */

static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

static void guard_prepare(void)
{
	pthread_mutex_lock(&guard_mu);
}

static void guard_after(void)
{
	pthread_mutex_unlock(&guard_mu);
}

static void guard_init(void)
{
	pthread_atfork(guard_prepare, guard_after, guard_after);
}

/* Wall clock in milliseconds: leases are compared across hosts, so they cannot use the monotonic clock. */
static long long real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct at_wait_hooks wait_hooks;

void at_lockset_set_wait_hooks(void (*begin)(void), void (*end)(void))
{
	wait_hooks.begin = begin;
	wait_hooks.end = end;
}

void at_lockset_fork_handlers(void)
{
	pthread_once(&guard_once, guard_init);
}

/* Only between attempts, with nothing of ours held (see at_lockset_set_wait_hooks). */
void at_lockset_pause_ms(long long ms)
{
	at_wait_hooks_sleep_ms(&wait_hooks, ms);
}

static int file_name(char *out, size_t size, const char *name, const char *suffix)
{
	int n = snprintf(out, size, "%s%s", name, suffix);

	return n < 0 || (size_t)n >= size ? AT_E_RANGE : 0;
}

/*
 * Takes the guard of name: on success guard_mu is held and *fdp holds the fcntl lock; release with guard_leave.
 * Between attempts nothing is held.
 */
static int guard_enter(struct at_lockset *ls, const char *name, long long deadline, int *fdp)
{
	char fname[NAME_MAX_LOCK + 16];
	int rc = file_name(fname, sizeof fname, name, ".guard");

	if (rc != 0)
		return rc;
	at_lockset_fork_handlers();
	for (;;) {
		pthread_mutex_lock(&guard_mu);
		int fd = openat(ls->dirfd, fname, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
		if (fd < 0) {
			rc = at_fio_err(errno);
			pthread_mutex_unlock(&guard_mu);
			return rc;
		}
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
		int r;
		do
			r = fcntl(fd, F_SETLK, &fl);
		while (r != 0 && errno == EINTR);
		if (r == 0) {
			*fdp = fd;
			return 0;
		}
		int e = errno;
		close(fd); /* no other thread of ours holds a guard: guard_mu is ours */
		pthread_mutex_unlock(&guard_mu);
		if (e != EAGAIN && e != EACCES)
			return e == ENOLCK ? AT_E_UNSUPPORTED : at_fio_err(e);
		if (at_clock_ms() >= deadline)
			return AT_E_LOCKED;
		at_lockset_pause_ms(1);
	}
}

static void guard_leave(int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };

	fcntl(fd, F_SETLK, &fl);
	close(fd);
	pthread_mutex_unlock(&guard_mu);
}

struct record {
	char host[256];
	char node[128];
	long long pid;
	unsigned long long start;
	long long lease_expires_ms;
	char token[AT_LOCK_TOKEN_LEN + 1];
};

static int copy_str(char *out, size_t size, const cJSON *j)
{
	if (!cJSON_IsString(j) || strlen(j->valuestring) >= size)
		return AT_E_PARSE;
	memcpy(out, j->valuestring, strlen(j->valuestring) + 1);
	return 0;
}

static int record_parse(struct record *r, const char *text, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(text, len);
	int rc = AT_E_PARSE;

	memset(r, 0, sizeof *r);
	if (j == NULL)
		return AT_E_PARSE;
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(j, "pid");
	const cJSON *start = cJSON_GetObjectItemCaseSensitive(j, "start");
	const cJSON *lease = cJSON_GetObjectItemCaseSensitive(j, "lease_expires");
	if (!cJSON_IsNumber(pid) || !cJSON_IsNumber(start) || !cJSON_IsNumber(lease))
		goto out;
	if (copy_str(r->host, sizeof r->host, cJSON_GetObjectItemCaseSensitive(j, "host")) != 0 ||
	    copy_str(r->node, sizeof r->node, cJSON_GetObjectItemCaseSensitive(j, "node")) != 0 ||
	    copy_str(r->token, sizeof r->token, cJSON_GetObjectItemCaseSensitive(j, "token")) != 0)
		goto out;
	r->pid = (long long)pid->valuedouble;
	r->start = start->valuedouble > 0 ? (unsigned long long)start->valuedouble : 0;
	r->lease_expires_ms = (long long)(lease->valuedouble * 1000.0);
	rc = 0;
out:
	cJSON_Delete(j);
	return rc;
}

/* Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot. 0 when it cannot be read. */
static unsigned long long pid_start_time(long long pid)
{
	char path[64], buf[1024];
	unsigned long long v = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%lld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the command name (field 2) may hold spaces and parentheses: count from the last ')' */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	p++;
	for (int field = 3; field <= 22 && p != NULL; field++) {
		while (*p == ' ')
			p++;
		if (field == 22) {
			v = strtoull(p, NULL, 10);
			break;
		}
		p = strchr(p, ' ');
	}
	return v;
}

/* 1 when pid is a zombie (or dying): it has died and holds nothing, only nobody reaped it yet (a detached
 * manager killed under an init that does not reap stays one). */
static int pid_is_zombie(long long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%lld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Whether the record names a process of our node that no longer runs (or whose pid was reused). */
static int holder_gone(const struct at_lockset *ls, const struct record *r)
{
	if (ls->node[0] == '\0' || strcmp(ls->node, r->node) != 0 || r->pid <= 0 || r->pid > 0x7fffffff)
		return 0;
	if (kill((pid_t)r->pid, 0) != 0 && errno == ESRCH)
		return 1;
	unsigned long long now_start = pid_start_time(r->pid);
	if (pid_is_zombie(r->pid))
		return 1;
	return r->start != 0 && now_start != 0 && now_start != r->start;
}

static int record_write(struct at_lockset *ls, const char *fname, const char *token, int lease_s)
{
	cJSON *j = cJSON_CreateObject();
	char *text = NULL;
	pid_t pid = getpid();
	int rc = AT_E_NOMEM;

	if (j == NULL)
		goto out;
	if (cJSON_AddNumberToObject(j, "v", 1) == NULL || cJSON_AddStringToObject(j, "host", ls->host) == NULL ||
	    cJSON_AddStringToObject(j, "node", ls->node) == NULL ||
	    cJSON_AddNumberToObject(j, "pid", (double)pid) == NULL ||
	    cJSON_AddNumberToObject(j, "start", (double)pid_start_time(pid)) == NULL ||
	    cJSON_AddNumberToObject(j, "lease_expires", (double)(real_ms() + 1000LL * lease_s) / 1000.0) == NULL ||
	    cJSON_AddStringToObject(j, "token", token) == NULL)
		goto out;
	text = cJSON_PrintUnformatted(j);
	if (text == NULL)
		goto out;
	rc = at_fio_write(ls->dirfd, fname, text, strlen(text));
out:
	free(text);
	cJSON_Delete(j);
	return rc;
}

/* Reads the record; *present 0 when there is none (or it is unreadable, which counts as free). */
static int record_read(struct at_lockset *ls, const char *fname, const char *name, struct record *r, int *present)
{
	char *text = NULL;
	size_t len = 0;
	int rc = at_fio_read(ls->dirfd, fname, RECORD_MAX, &text, &len);

	*present = 0;
	if (rc == AT_E_NOTFOUND)
		return 0;
	if (rc == AT_E_TOOBIG || rc == AT_E_STORE) {
		at_log_warn("store: lock %s has an unusable record; treating it as free", name);
		return 0;
	}
	if (rc != 0)
		return rc;
	if (record_parse(r, text, len) == 0)
		*present = 1;
	else
		at_log_warn("store: lock %s has a record that does not parse; treating it as free", name);
	free(text);
	return 0;
}

static struct at_lock_held *held_find(struct at_lockset *ls, const char *name)
{
	for (size_t i = 0; i < ls->nheld; i++)
		if (strcmp(ls->held[i].name, name) == 0)
			return &ls->held[i];
	return NULL;
}

static void held_drop(struct at_lockset *ls, struct at_lock_held *h)
{
	size_t i = (size_t)(h - ls->held);

	OPENSSL_cleanse(h->token, sizeof h->token);
	ls->held[i] = ls->held[ls->nheld - 1];
	ls->nheld--;
}

static int try_once(struct at_lockset *ls, const char *name, int lease_s, long long guard_deadline)
{
	char fname[NAME_MAX_LOCK + 16];
	char token[AT_LOCK_TOKEN_LEN + 1];
	struct record r;
	int present, fd = -1;
	int rc = file_name(fname, sizeof fname, name, ".lock");

	if (rc != 0)
		return rc;
	rc = guard_enter(ls, name, guard_deadline, &fd);
	if (rc != 0)
		return rc;
	if (ls->nheld == AT_LOCK_HELD_MAX) {
		rc = AT_E_RANGE;
		goto out;
	}
	rc = record_read(ls, fname, name, &r, &present);
	if (rc != 0)
		goto out;
	if (present && r.lease_expires_ms > real_ms() && !holder_gone(ls, &r)) {
		rc = AT_E_LOCKED;
		goto out;
	}
	if (present)
		at_log_info("store: taking over lock %s from pid %lld on %s (%s)", name, r.pid, r.host,
			    r.lease_expires_ms > real_ms() ? "holder gone" : "lease ended");
	rc = at_fio_random_hex(token, AT_LOCK_TOKEN_LEN / 2);
	if (rc != 0)
		goto out;
	rc = record_write(ls, fname, token, lease_s);
	if (rc != 0)
		goto out;
	struct at_lock_held *h = &ls->held[ls->nheld++];
	memcpy(h->name, name, strlen(name) + 1);
	memcpy(h->token, token, sizeof token);
	rc = 0;
out:
	guard_leave(fd);
	return rc;
}

static int check_name(const char *name)
{
	if (name == NULL || strlen(name) > NAME_MAX_LOCK || !at_store_component_ok(name, strlen(name)))
		return AT_E_BADNAME;
	return 0;
}

int at_lockset_lock(struct at_lockset *ls, const char *name, int lease_s, int wait_ms)
{
	long long deadline, pause = 5;
	int rc = check_name(name);

	if (rc != 0)
		return rc;
	if (lease_s <= 0 || lease_s > LEASE_MAX || wait_ms < 0)
		return AT_E_RANGE;
	deadline = at_clock_ms() + wait_ms;
	for (;;) {
		long long now = at_clock_ms();
		long long guard_deadline = deadline - now > GUARD_WAIT_MIN_MS ? deadline : now + GUARD_WAIT_MIN_MS;
		rc = try_once(ls, name, lease_s, guard_deadline);
		if (rc != AT_E_LOCKED)
			return rc;
		now = at_clock_ms();
		if (now >= deadline)
			return AT_E_LOCKED;
		at_lockset_pause_ms(pause < deadline - now ? pause : deadline - now);
		pause = pause * 2 > 100 ? 100 : pause * 2;
	}
}

/* Common part of refresh and unlock: under the guard, check the record still carries our token. */
static int with_own_record(struct at_lockset *ls, const char *name, int lease_s, int release)
{
	char fname[NAME_MAX_LOCK + 16];
	struct record r;
	int present, fd = -1;
	int rc = check_name(name);

	if (rc != 0)
		return rc;
	rc = file_name(fname, sizeof fname, name, ".lock");
	if (rc != 0)
		return rc;
	rc = guard_enter(ls, name, at_clock_ms() + GUARD_WAIT_OPS_MS, &fd);
	if (rc == AT_E_LOCKED)
		return AT_E_TIMEOUT;
	if (rc != 0)
		return rc;
	struct at_lock_held *h = held_find(ls, name);
	if (h == NULL) {
		rc = AT_E_STATE;
		goto out;
	}
	rc = record_read(ls, fname, name, &r, &present);
	if (rc != 0)
		goto out;
	if (!present || strcmp(r.token, h->token) != 0) {
		at_log_warn("store: lock %s was taken over after its lease ended", name);
		held_drop(ls, h);
		rc = AT_E_LOCKED;
		goto out;
	}
	if (release) {
		if (unlinkat(ls->dirfd, fname, 0) != 0 && errno != ENOENT) {
			rc = at_fio_err(errno);
			goto out;
		}
		held_drop(ls, h);
	} else {
		rc = record_write(ls, fname, h->token, lease_s);
	}
out:
	guard_leave(fd);
	return rc;
}

int at_lockset_refresh(struct at_lockset *ls, const char *name, int lease_s)
{
	if (lease_s <= 0 || lease_s > LEASE_MAX)
		return AT_E_RANGE;
	return with_own_record(ls, name, lease_s, 0);
}

int at_lockset_unlock(struct at_lockset *ls, const char *name)
{
	return with_own_record(ls, name, 0, 1);
}

/* boot id + pid namespace, e.g. "0f3c...-...:pid:[4026531836]". Empty when either cannot be read, which turns
 * the same-node shortcut off (locks then free up at the end of their lease only). */
static void node_identity(char *out, size_t size)
{
	char boot[64] = "", ns[64] = "";
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	out[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, boot, sizeof boot - 1);
	close(fd);
	if (n <= 0)
		return;
	boot[n] = '\0';
	boot[strcspn(boot, "\n")] = '\0';
	n = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
	if (n <= 0)
		return;
	ns[n] = '\0';
	snprintf(out, size, "%s:%s", boot, ns);
}

int at_lockset_init(struct at_lockset *ls, int root)
{
	memset(ls, 0, sizeof *ls);
	ls->dirfd = -1;
	int rc = at_fio_open_dir(&ls->dirfd, root, LOCKS_DIR, strlen(LOCKS_DIR), 1);
	if (rc != 0)
		return rc;
	if (gethostname(ls->host, sizeof ls->host) != 0)
		snprintf(ls->host, sizeof ls->host, "unknown");
	ls->host[sizeof ls->host - 1] = '\0';
	node_identity(ls->node, sizeof ls->node);
	return 0;
}

void at_lockset_fini(struct at_lockset *ls)
{
	char name[254];

	if (ls == NULL || ls->dirfd < 0)
		return;
	for (;;) {
		at_lockset_fork_handlers();
		pthread_mutex_lock(&guard_mu);
		int more = ls->nheld > 0;
		if (more)
			memcpy(name, ls->held[0].name, sizeof name);
		pthread_mutex_unlock(&guard_mu);
		if (!more)
			break;
		if (at_lockset_unlock(ls, name) != 0) {
			/* whatever went wrong, the lease will end it; forget it here so this loop ends */
			pthread_mutex_lock(&guard_mu);
			struct at_lock_held *h = held_find(ls, name);
			if (h != NULL)
				held_drop(ls, h);
			pthread_mutex_unlock(&guard_mu);
		}
	}
	close(ls->dirfd);
	ls->dirfd = -1;
}
