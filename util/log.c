#include "util/log.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = AT_LOG_WARN;
static _Atomic int log_sink = AT_LOG_SINK_STDERR;
static _Atomic int log_fd = -1; /* owned: the file sink's descriptor */
/* The file log_fd was opened on, and its path: a host may close every descriptor it did not open itself (a
 * daemon helper, close_range after start) and hand the number to a socket; the file sink checks before each
 * line that log_fd still names its file, and opens the path again when it does not (never writing into what
 * the host owns now, never closing it). */
static char log_file[4096];
static _Atomic unsigned long long log_dev, log_ino;

static int open_file(const char *path)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd >= 0 && fstat(fd, &st) == 0) {
		atomic_store(&log_dev, (unsigned long long)st.st_dev);
		atomic_store(&log_ino, (unsigned long long)st.st_ino);
	}
	return fd;
}

/* log_fd when it still names the log file; else the file opened again (or -1). */
static int file_fd(void)
{
	struct stat st;
	int fd = atomic_load(&log_fd);
	if (fd >= 0 && fstat(fd, &st) == 0 && (unsigned long long)st.st_dev == atomic_load(&log_dev) &&
	    (unsigned long long)st.st_ino == atomic_load(&log_ino))
		return fd;
	int nfd = open_file(log_file);
	if (nfd < 0)
		return -1;
	/* Another thread may have done the same: keep one. The old number is the host's now. */
	if (!atomic_compare_exchange_strong(&log_fd, &fd, nfd)) {
		close(nfd);
		return atomic_load(&log_fd);
	}
	return nfd;
}

int at_log_open(enum at_log_sink sink, const char *path, enum at_log_level level)
{
	int fd = -1;

	if (sink == AT_LOG_SINK_FILE) {
		if (path == NULL || strlen(path) >= sizeof(log_file))
			return AT_E_INVAL;
		fd = open_file(path);
		if (fd < 0)
			return AT_E_IO;
		memcpy(log_file, path, strlen(path) + 1);
	} else if (sink == AT_LOG_SINK_SYSLOG) {
		openlog("autotls", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
	int old = atomic_exchange(&log_fd, fd);
	if (old >= 0)
		close(old);
	atomic_store(&log_sink, (int)sink);
	atomic_store(&log_level, (int)level);
	return 0;
}

void at_log_set_level(enum at_log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum at_log_level at_log_get_level(void)
{
	return (enum at_log_level)atomic_load(&log_level);
}

static const char *level_name(enum at_log_level level)
{
	switch (level) {
	case AT_LOG_ERROR: return "error";
	case AT_LOG_WARN: return "warn";
	case AT_LOG_INFO: return "info";
	default: return "debug";
	}
}

void at_log(enum at_log_level level, const char *fmt, ...)
{
	char line[1024];
	int saved_errno = errno;
	int n = 0;

	if ((int)level > atomic_load(&log_level))
		return;

	int sink = atomic_load(&log_sink);
	if (sink != AT_LOG_SINK_SYSLOG) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ autotls[%d] %s: ",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			     ts.tv_nsec / 1000000, (int)getpid(), level_name(level));
		if (n < 0 || (size_t)n >= sizeof(line))
			n = 0;
	}
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* A line is one line: control bytes from outside (a CA's detail text) must not forge extra lines. */
	for (size_t i = (size_t)n; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = ' ';

	if (sink == AT_LOG_SINK_SYSLOG) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		line[len] = '\0';
		syslog(prio[level], "%s", line);
	} else {
		line[len++] = '\n';
		int fd = sink == AT_LOG_SINK_FILE ? file_fd() : STDERR_FILENO;
		if (fd >= 0) {
			ssize_t w = write(fd, line, len);
			(void)w;
		}
	}
	errno = saved_errno;
}
