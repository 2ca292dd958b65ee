/*
 * Small process and file helpers that servers.c, dbservers.c and pebble.c share (see proc.h).
 *
 * What it owns: the registry of running servers (pointers to the callers' structs, behind a lock).
 */
#include "tests/harness/proc.h"
#include "tests/harness/pebble.h"
#include "util/clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define STOP_POLL_MS 5

void harness_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

long harness_now_ms(void)
{
	return at_clock_ms();
}

void harness_stop_child(pid_t pid, int sig, long grace_ms, int group)
{
	long deadline = harness_now_ms() + grace_ms;

	if (pid <= 0)
		return;
	kill(pid, sig);
	for (;;) {
		pid_t r = waitpid(pid, NULL, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			return;
		if (harness_now_ms() > deadline) {
			kill(group ? -pid : pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			return;
		}
		harness_sleep_ms(STOP_POLL_MS);
	}
}

int harness_tcp_connects(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int harness_tcp_open(int port, int timeout_s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = timeout_s};

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

char **harness_make_env(char *const *extra)
{
	return harness_make_env_without(extra, NULL);
}

char **harness_make_env_without(char *const *extra, const char *drop_prefix)
{
	size_t drop_len = drop_prefix != NULL ? strlen(drop_prefix) : 0;
	size_t n = 0, x = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (extra != NULL && extra[x] != NULL)
		x++;
	env = calloc(n + x + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t len = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int replaced = drop_len > 0 && strncmp(environ[i], drop_prefix, drop_len) == 0;
		for (size_t j = 0; j < x && !replaced; j++)
			replaced = strncmp(extra[j], environ[i], len) == 0 && extra[j][len] == '=';
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < x; j++)
		env[k++] = extra[j];
	env[k] = NULL;
	return env;
}

int harness_serial_hex(X509 *cert, char *out, size_t cap)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	int ret = -1;

	if (hex != NULL && (size_t)snprintf(out, cap, "%s", hex) < cap)
		ret = 0;
	OPENSSL_free(hex);
	BN_free(bn);
	return ret;
}

int harness_shim_lib_path(char *out, size_t cap)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX], cwd[PATH_MAX];

	if (build == NULL || *build == '\0')
		build = "build";
	if ((size_t)snprintf(rel, sizeof(rel), "%s/libautotls.so", build) >= sizeof(rel))
		return -1;
	if (realpath(rel, out) != NULL)
		return 0;
	/* Not there (yet): still name it absolutely, so the failure message is clear. */
	if (rel[0] == '/')
		snprintf(out, cap, "%s", rel);
	else if (getcwd(cwd, sizeof(cwd)) != NULL) {
		size_t a = strlen(cwd), b = strlen(rel);
		if (a + 1 + b + 1 <= cap) {
			memcpy(out, cwd, a);
			out[a] = '/';
			memcpy(out + a + 1, rel, b + 1);
		}
	}
	fprintf(stderr, "  shim: %s does not exist (build it with make)\n", out);
	return -1;
}

int harness_preload_value(char *out, size_t size, const char *lib, int *sanitized)
{
	int n = snprintf(out, size, "%s", lib);
	if (sanitized)
		*sanitized = 0;
	if (strstr(lib, "address") != NULL) {
		char asan[PATH_MAX] = "", real[PATH_MAX];
		FILE *f = popen("gcc -print-file-name=libasan.so", "r");
		if (f && fgets(asan, sizeof(asan), f))
			asan[strcspn(asan, "\n")] = '\0';
		if (f)
			pclose(f);
		if (realpath(asan, real) != NULL) {
			n = snprintf(out, size, "%s:%s", real, lib);
			if (sanitized)
				*sanitized = 1;
		}
	}
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* ---- registry: what atexit stops ---- */

struct reg_entry {
	void *obj;
	void (*stop)(void *obj);
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry reg[HARNESS_REG_MAX];
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void stop_all_atexit(void)
{
	struct reg_entry todo[HARNESS_REG_MAX];
	int n = 0;

	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < HARNESS_REG_MAX; i++)
		if (reg[i].obj != NULL)
			todo[n++] = reg[i];
	pthread_mutex_unlock(&reg_lock);
	/* The structs are the tests' (usually static); a test that returned from main without stopping left them
	 * valid, since static storage outlives atexit handlers. */
	for (int i = 0; i < n; i++)
		todo[i].stop(todo[i].obj);
}

static void reg_init(void)
{
	harness_ignore_sigpipe();
	atexit(stop_all_atexit);
}

int harness_reg_add(void *obj, void (*stop)(void *obj))
{
	int ret = -1;

	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < HARNESS_REG_MAX && ret != 0; i++)
		if (reg[i].obj == obj || reg[i].obj == NULL) {
			reg[i].obj = obj;
			reg[i].stop = stop;
			ret = 0;
		}
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

void harness_reg_remove(const void *obj)
{
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < HARNESS_REG_MAX; i++)
		if (reg[i].obj == obj)
			reg[i].obj = NULL;
	pthread_mutex_unlock(&reg_lock);
}
