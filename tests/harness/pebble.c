/*
 * The Pebble harness (see pebble.h).
 *
 * Who calls it: integration tests, from their main thread (PR_SET_PDEATHSIG fires when the *thread* that forked
 * ends, so a test must not start a harness from a short-lived thread).
 *
 * What it owns: two child processes per harness and a temporary folder. Every running harness is registered in a
 * small table; an atexit handler stops them properly (SIGTERM, wait, remove the folder), and handlers for
 * SIGINT, SIGTERM, SIGSEGV and SIGABRT kill the registered PIDs with SIGKILL (the only async-signal-safe thing
 * to do), then hand the signal on to whoever had it before (the default action, or a sanitizer's handler).
 * PR_SET_PDEATHSIG in the children is the last line: they die with the test even after SIGKILL.
 *
 * What it must never do: listen or connect anywhere but 127.0.0.1.
 */
#include "tests/harness/pebble.h"
#include "tests/harness/certgen.h"
#include "tests/harness/fetch.h"
#include "tests/harness/files.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_ATTEMPTS 5
#define READY_TIMEOUT_MS 10000
#define POLL_SLEEP_MS 5
#define STOP_GRACE_MS 2000
#define MAX_HARNESSES 16

/* ---- registry of running harnesses ---- */

/* Keyed by the struct's address but never dereferenced: at exit a test's struct may be gone (main returned), so
 * the table keeps its own copy of what stopping needs. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct pebble *reg[MAX_HARNESSES];
static char reg_workdir[MAX_HARNESSES][PATH_MAX];
/* Read by signal handlers without the lock: plain ints written before/after the process exists. */
static volatile sig_atomic_t reg_pids[MAX_HARNESSES][2];
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static const int handled_signals[] = {SIGINT, SIGTERM, SIGSEGV, SIGABRT};
#define NSIG_HANDLED (sizeof(handled_signals) / sizeof(handled_signals[0]))
static struct sigaction old_actions[NSIG_HANDLED];

static void kill_registered(void)
{
	for (int i = 0; i < MAX_HARNESSES; i++)
		for (int j = 0; j < 2; j++)
			if (reg_pids[i][j] > 0)
				kill((pid_t)reg_pids[i][j], SIGKILL);
}

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	int saved = errno;
	kill_registered();
	for (size_t i = 0; i < NSIG_HANDLED; i++)
		if (handled_signals[i] == sig)
			sigaction(sig, &old_actions[i], NULL);
	/* A real fault re-executes the faulting instruction on return and reaches the previous handler with the
	 * right siginfo; anything sent (kill, raise, abort) is raised again. */
	if (!(sig == SIGSEGV && info != NULL && info->si_code > 0))
		raise(sig);
	errno = saved;
}

static void stop_pid(pid_t *pidp, int sig_first);

static void stop_all_atexit(void)
{
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < MAX_HARNESSES; i++) {
		if (reg[i] == NULL)
			continue;
		for (int j = 0; j < 2; j++) {
			pid_t pid = (pid_t)reg_pids[i][j];
			stop_pid(&pid, SIGTERM);
			reg_pids[i][j] = 0;
		}
		harness_remove_tree(reg_workdir[i]);
		reg[i] = NULL;
	}
	pthread_mutex_unlock(&reg_lock);
}

static void reg_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NSIG_HANDLED; i++) {
		/* A signal the test was started with ignored (SIGINT in a background job) stays ignored. */
		if (sigaction(handled_signals[i], NULL, &old_actions[i]) == 0 &&
		    old_actions[i].sa_handler != SIG_IGN)
			sigaction(handled_signals[i], &sa, NULL);
	}
	harness_ignore_sigpipe();
	atexit(stop_all_atexit);
}

void harness_ignore_sigpipe(void)
{
	struct sigaction old;
	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

static int reg_slot(const void *p)
{
	for (int i = 0; i < MAX_HARNESSES; i++)
		if (reg[i] == p)
			return i;
	return -1;
}

/* Records p's current PIDs (adding p when new). 0, or -1 when the table is full. */
static int reg_update(struct pebble *p)
{
	int i, ret = 0;

	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_lock);
	i = reg_slot(p);
	if (i < 0)
		i = reg_slot(NULL);
	if (i < 0) {
		ret = -1;
	} else {
		reg[i] = p;
		snprintf(reg_workdir[i], sizeof(reg_workdir[i]), "%s", p->workdir);
		reg_pids[i][0] = p->pebble_pid;
		reg_pids[i][1] = p->chall_pid;
	}
	pthread_mutex_unlock(&reg_lock);
	return ret;
}

static void reg_remove(struct pebble *p)
{
	pthread_mutex_lock(&reg_lock);
	int i = reg_slot(p);
	if (i >= 0) {
		reg_pids[i][0] = 0;
		reg_pids[i][1] = 0;
		reg[i] = NULL;
	}
	pthread_mutex_unlock(&reg_lock);
}

/* ---- small helpers ---- */

int harness_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

char *harness_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *data = NULL;
	size_t n = 0, cap = 0;

	if (fd < 0)
		return NULL;
	for (;;) {
		if (cap - n < 4096) {
			size_t want = cap ? cap * 2 : 8192;
			char *d = realloc(data, want + 1);
			if (d == NULL)
				goto fail;
			data = d;
			cap = want;
		}
		ssize_t r = read(fd, data + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	data[n] = '\0';
	if (len != NULL)
		*len = n;
	return data;
fail:
	close(fd);
	free(data);
	return NULL;
}

/* dst = dir + "/" + name. The work folder's path is kept short (pebble_start), so this always fits. */
static void wd_path(char *dst, size_t cap, const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	if (a + 1 + b + 1 > cap) {
		dst[0] = '\0';
		return;
	}
	memcpy(dst, dir, a);
	dst[a] = '/';
	memcpy(dst + a + 1, name, b + 1);
}

/*
 * fork + exec (spawn.h) with stdout and stderr appended to log_path, stdin from /dev/null, and our environment
 * without any PEBBLE_* variable plus extra_env. The child asks to be SIGKILLed when we die, and checks we did
 * not die before that took effect. Returns the PID or -1.
 */
static pid_t spawn(char *const argv[], char *const extra_env[], const char *log_path)
{
	struct harness_spawn_opts o = {.argv = argv, .extra_env = extra_env, .drop_prefix = "PEBBLE_",
				       .out_path = log_path, .die_with_us = 1};
	pid_t pid;

	return harness_spawn(&o, &pid) == 0 ? pid : -1;
}

/* SIGTERM, up to STOP_GRACE_MS for it to exit, then SIGKILL; always reaps. */
static void stop_pid(pid_t *pidp, int sig_first)
{
	harness_stop_child(*pidp, sig_first, STOP_GRACE_MS, 0);
	*pidp = 0;
}

static int exited(pid_t *pidp)
{
	if (*pidp <= 0)
		return 1;
	if (waitpid(*pidp, NULL, WNOHANG) == *pidp) {
		*pidp = 0;
		return 1;
	}
	return 0;
}

/* ---- the parts of a start ---- */

/* The throwaway CA (api_root_file) and the listener certificate (127.0.0.1 and localhost) it signs. */
static int make_listener_cert(struct pebble *p, char *cert_path, char *key_path, size_t cap)
{
	X509 *ca = NULL, *leaf = NULL;
	EVP_PKEY *ca_key = NULL, *leaf_key = NULL;
	int ret = -1;

	wd_path(p->api_root_file, sizeof(p->api_root_file), p->workdir, "api-root.pem");
	wd_path(cert_path, cap, p->workdir, "listener-cert.pem");
	wd_path(key_path, cap, p->workdir, "listener-key.pem");
	if (harness_cert_make(&ca, &ca_key, "libautotls test API root", NULL, NULL, 1, NULL, NULL, 30) != 0 ||
	    harness_cert_make(&leaf, &leaf_key, "localhost", "localhost", "127.0.0.1", 0, ca, ca_key, 30) != 0)
		goto out;
	if (harness_write_cert_pem(p->api_root_file, ca) != 0 || harness_write_cert_pem(cert_path, leaf) != 0 ||
	    harness_write_key_pem(key_path, leaf_key) != 0)
		goto out;
	ret = 0;
out:
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(leaf_key);
	return ret;
}

struct ports {
	int api, mgmt, chall_mgmt;
};

static int write_config(const struct pebble *p, const struct pebble_opts *o, const struct ports *pt,
			const char *cert_path, const char *key_path)
{
	char addr[64], path[PATH_MAX + 32];
	cJSON *root = cJSON_CreateObject(), *pb = NULL, *keys;
	char *text = NULL;
	FILE *f = NULL;
	int ret = -1;

	if (root == NULL || (pb = cJSON_AddObjectToObject(root, "pebble")) == NULL)
		goto out;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", pt->api);
	if (cJSON_AddStringToObject(pb, "listenAddress", addr) == NULL)
		goto out;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", pt->mgmt);
	if (cJSON_AddStringToObject(pb, "managementListenAddress", addr) == NULL ||
	    cJSON_AddStringToObject(pb, "certificate", cert_path) == NULL ||
	    cJSON_AddStringToObject(pb, "privateKey", key_path) == NULL ||
	    cJSON_AddNumberToObject(pb, "httpPort", p->http_port) == NULL ||
	    cJSON_AddNumberToObject(pb, "tlsPort", p->tls_port) == NULL ||
	    cJSON_AddStringToObject(pb, "ocspResponderURL", "") == NULL ||
	    cJSON_AddBoolToObject(pb, "externalAccountBindingRequired", o->eab_required != 0) == NULL)
		goto out;
	if (o->eab_required) {
		if ((keys = cJSON_AddObjectToObject(pb, "externalAccountMACKeys")) == NULL ||
		    cJSON_AddStringToObject(keys, PEBBLE_EAB_KID, PEBBLE_EAB_HMAC) == NULL)
			goto out;
	}
	if (o->validity_s > 0 &&
	    cJSON_AddNumberToObject(pb, "certificateValidityPeriod", (double)o->validity_s) == NULL)
		goto out;
	text = cJSON_Print(root);
	if (text == NULL)
		goto out;
	wd_path(path, sizeof(path), p->workdir, "pebble-config.json");
	f = fopen(path, "we");
	if (f == NULL || fputs(text, f) < 0)
		goto out;
	ret = 0;
out:
	if (f != NULL && fclose(f) != 0)
		ret = -1;
	free(text);
	cJSON_Delete(root);
	return ret;
}

/* Starts Pebble on the config already written, pointed at the mock DNS, with the environment the options ask. */
static int spawn_pebble(struct pebble *p, const struct pebble_opts *o)
{
	char cfg[PATH_MAX + 32], dns[64];
	char e_nosleep[] = "PEBBLE_VA_NOSLEEP=1", e_nonce[48], e_reuse[48], e_alt[48];
	char *extra[5];
	int k = 0;

	wd_path(cfg, sizeof(cfg), p->workdir, "pebble-config.json");
	/* The mock DNS, or a test's own server (an authoritative one for RFC 2136 updates). */
	snprintf(dns, sizeof(dns), "127.0.0.1:%d", o->dns_server_port > 0 ? o->dns_server_port : p->dns_port);
	extra[k++] = e_nosleep;
	snprintf(e_nonce, sizeof(e_nonce), "PEBBLE_WFE_NONCEREJECT=%d", o->nonce_reject);
	extra[k++] = e_nonce;
	if (o->authz_reuse >= 0) {
		snprintf(e_reuse, sizeof(e_reuse), "PEBBLE_AUTHZREUSE=%d", o->authz_reuse);
		extra[k++] = e_reuse;
	}
	if (o->alternate_roots > 0) {
		snprintf(e_alt, sizeof(e_alt), "PEBBLE_ALTERNATE_ROOTS=%d", o->alternate_roots);
		extra[k++] = e_alt;
	}
	extra[k] = NULL;
	char *argv[] = {"pebble", "-config", cfg, "-dnsserver", dns, NULL};
	p->pebble_pid = spawn(argv, extra, p->log_file);
	return p->pebble_pid > 0 ? 0 : -1;
}

static int spawn_chall(struct pebble *p, int chall_mgmt_port)
{
	char dns[64], mgmt[64], log[PATH_MAX + 32];
	char *argv[] = {"pebble-challtestsrv", "-dns01", dns, "-management", mgmt, "-http01", "", "-https01", "",
			"-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", NULL};
	char *extra[] = {NULL};

	snprintf(dns, sizeof(dns), "127.0.0.1:%d", p->dns_port);
	snprintf(mgmt, sizeof(mgmt), "127.0.0.1:%d", chall_mgmt_port);
	wd_path(log, sizeof(log), p->workdir, "challtestsrv.log");
	p->chall_pid = spawn(argv, extra, log);
	return p->chall_pid > 0 ? 0 : -1;
}

/* Polls Pebble's directory until it answers 200, the process exits, or READY_TIMEOUT_MS pass. */
static int wait_pebble(struct pebble *p)
{
	long deadline = harness_now_ms() + READY_TIMEOUT_MS;
	while (harness_now_ms() < deadline) {
		long status = 0;
		if (exited(&p->pebble_pid))
			return -1;
		if (harness_fetch(&status, NULL, NULL, "GET", p->directory_url, p->api_root_file, NULL, 1000) == 0 &&
		    status == 200)
			return 0;
		harness_sleep_ms(POLL_SLEEP_MS);
	}
	return -1;
}

static int wait_chall(struct pebble *p, int chall_mgmt_port)
{
	long deadline = harness_now_ms() + READY_TIMEOUT_MS;
	while (harness_now_ms() < deadline) {
		if (exited(&p->chall_pid))
			return -1;
		if (harness_tcp_connects(chall_mgmt_port) && harness_tcp_connects(p->dns_port))
			return 0;
		harness_sleep_ms(POLL_SLEEP_MS);
	}
	return -1;
}

static int fetch_roots(struct pebble *p)
{
	char url[256];

	wd_path(p->issuing_root_file, sizeof(p->issuing_root_file), p->workdir, "roots-0.pem");
	wd_path(p->intermediate_file, sizeof(p->intermediate_file), p->workdir, "intermediates-0.pem");
	wd_path(url, sizeof(url), p->mgmt_url, "roots/0");
	if (harness_fetch_to_file(url, p->api_root_file, p->issuing_root_file) != 0)
		return -1;
	wd_path(url, sizeof(url), p->mgmt_url, "intermediates/0");
	return harness_fetch_to_file(url, p->api_root_file, p->intermediate_file);
}

/* Six distinct free ports; 0 or -1. */
static int pick_ports(int *out, int n)
{
	for (int i = 0; i < n; i++) {
		int tries = 0, port, dup;
		do {
			port = harness_free_port();
			dup = 0;
			for (int j = 0; j < i; j++)
				dup |= out[j] == port;
		} while ((port <= 0 || dup) && ++tries < 50);
		if (port <= 0 || dup)
			return -1;
		out[i] = port;
	}
	return 0;
}

/* Options are remembered per harness for pebble_restart (struct pebble has no room for them). */
static pthread_mutex_t opts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const struct pebble *p;
	struct pebble_opts o;
} saved_opts[MAX_HARNESSES];

static void opts_save(const struct pebble *p, const struct pebble_opts *o)
{
	pthread_mutex_lock(&opts_lock);
	int free_slot = -1;
	for (int i = 0; i < MAX_HARNESSES; i++) {
		if (saved_opts[i].p == p) {
			saved_opts[i].o = *o;
			free_slot = -2;
			break;
		}
		if (saved_opts[i].p == NULL && free_slot == -1)
			free_slot = i;
	}
	if (free_slot >= 0) {
		saved_opts[free_slot].p = p;
		saved_opts[free_slot].o = *o;
	}
	pthread_mutex_unlock(&opts_lock);
}

static int opts_load(const struct pebble *p, struct pebble_opts *o)
{
	int ret = -1;
	pthread_mutex_lock(&opts_lock);
	for (int i = 0; i < MAX_HARNESSES; i++)
		if (saved_opts[i].p == p) {
			*o = saved_opts[i].o;
			ret = 0;
		}
	pthread_mutex_unlock(&opts_lock);
	return ret;
}

static void opts_forget(const struct pebble *p)
{
	pthread_mutex_lock(&opts_lock);
	for (int i = 0; i < MAX_HARNESSES; i++)
		if (saved_opts[i].p == p)
			saved_opts[i].p = NULL;
	pthread_mutex_unlock(&opts_lock);
}

static void print_log_tail(const char *path)
{
	size_t len = 0;
	char *text = harness_read_file(path, &len);
	if (text == NULL)
		return;
	const char *from = len > 2000 ? text + len - 2000 : text;
	fprintf(stderr, "  --- %s (tail) ---\n%s\n  ---\n", path, from);
	free(text);
}

int pebble_start(struct pebble *p, const struct pebble_opts *opts)
{
	struct pebble_opts o = {0};
	char cert_path[PATH_MAX + 32], key_path[PATH_MAX + 32], chall_log[PATH_MAX + 32];
	const char *tmp = getenv("TMPDIR");

	if (opts != NULL)
		o = *opts;
	memset(p, 0, sizeof(*p));
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 200)
		tmp = "/tmp";
	wd_path(p->workdir, sizeof(p->workdir), tmp, "autotls-pebble-XXXXXX");
	if (mkdtemp(p->workdir) == NULL) {
		fprintf(stderr, "pebble_start: mkdtemp %s: %s\n", p->workdir, strerror(errno));
		p->workdir[0] = '\0';
		return -1;
	}
	wd_path(p->log_file, sizeof(p->log_file), p->workdir, "pebble.log");
	wd_path(chall_log, sizeof(chall_log), p->workdir, "challtestsrv.log");
	if (make_listener_cert(p, cert_path, key_path, sizeof(cert_path)) != 0) {
		fprintf(stderr, "pebble_start: could not make the listener certificate\n");
		goto fail;
	}
	opts_save(p, &o);

	/* A port picked free can be taken by someone else before the child binds it: then try again. */
	for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
		int port[6];
		struct ports pt;

		if (pick_ports(port, 6) != 0) {
			fprintf(stderr, "pebble_start: no free ports\n");
			goto fail;
		}
		pt.api = port[0];
		pt.mgmt = port[1];
		pt.chall_mgmt = port[2];
		p->dns_port = port[3];
		p->http_port = o.http_port > 0 ? o.http_port : port[4];
		p->tls_port = o.tls_port > 0 ? o.tls_port : port[5];
		snprintf(p->directory_url, sizeof(p->directory_url), "https://127.0.0.1:%d/dir", pt.api);
		snprintf(p->mgmt_url, sizeof(p->mgmt_url), "https://127.0.0.1:%d", pt.mgmt);
		snprintf(p->chall_mgmt_url, sizeof(p->chall_mgmt_url), "http://127.0.0.1:%d", pt.chall_mgmt);
		if (write_config(p, &o, &pt, cert_path, key_path) != 0) {
			fprintf(stderr, "pebble_start: could not write the config\n");
			goto fail;
		}
		if (spawn_chall(p, pt.chall_mgmt) != 0 || reg_update(p) != 0 || wait_chall(p, pt.chall_mgmt) != 0) {
			fprintf(stderr, "pebble_start: pebble-challtestsrv did not start (attempt %d)\n", attempt);
			print_log_tail(chall_log);
			stop_pid(&p->chall_pid, SIGKILL);
			reg_update(p);
			continue;
		}
		if (spawn_pebble(p, &o) != 0 || reg_update(p) != 0 || wait_pebble(p) != 0) {
			fprintf(stderr, "pebble_start: pebble did not start (attempt %d)\n", attempt);
			print_log_tail(p->log_file);
			stop_pid(&p->pebble_pid, SIGKILL);
			stop_pid(&p->chall_pid, SIGKILL);
			reg_update(p);
			continue;
		}
		if (fetch_roots(p) != 0) {
			fprintf(stderr, "pebble_start: could not fetch roots/0 and intermediates/0\n");
			goto fail;
		}
		return 0;
	}
fail:
	pebble_stop(p);
	return -1;
}

void pebble_stop(struct pebble *p)
{
	if (p == NULL)
		return;
	stop_pid(&p->pebble_pid, SIGTERM);
	stop_pid(&p->chall_pid, SIGTERM);
	reg_remove(p);
	opts_forget(p);
	harness_remove_tree(p->workdir);
	p->workdir[0] = '\0';
}

int pebble_kill(struct pebble *p)
{
	if (p->pebble_pid <= 0)
		return -1;
	stop_pid(&p->pebble_pid, SIGKILL);
	return reg_update(p);
}

int pebble_restart(struct pebble *p)
{
	struct pebble_opts o;

	if (p->workdir[0] == '\0' || opts_load(p, &o) != 0)
		return -1;
	if (p->pebble_pid > 0)
		stop_pid(&p->pebble_pid, SIGTERM);
	if (spawn_pebble(p, &o) != 0 || reg_update(p) != 0 || wait_pebble(p) != 0) {
		fprintf(stderr, "pebble_restart: pebble did not start again\n");
		print_log_tail(p->log_file);
		stop_pid(&p->pebble_pid, SIGKILL);
		reg_update(p);
		return -1;
	}
	return fetch_roots(p);
}

/* ---- mock DNS ---- */

static int chall_post(struct pebble *p, const char *path, const char *host, const char *value)
{
	char url[256], fqdn[300];
	cJSON *body = cJSON_CreateObject();
	char *text = NULL;
	long status = 0;
	int ret = -1;
	size_t n = strlen(host);

	if (body == NULL || n == 0 || n > 253)
		goto out;
	snprintf(fqdn, sizeof(fqdn), "%s%s", host, host[n - 1] == '.' ? "" : ".");
	if (cJSON_AddStringToObject(body, "host", fqdn) == NULL ||
	    (value != NULL && cJSON_AddStringToObject(body, "value", value) == NULL))
		goto out;
	text = cJSON_PrintUnformatted(body);
	if (text == NULL)
		goto out;
	snprintf(url, sizeof(url), "%s%s", p->chall_mgmt_url, path);
	if (harness_fetch(&status, NULL, NULL, "POST", url, NULL, text, 5000) == 0 && status == 200)
		ret = 0;
	else
		fprintf(stderr, "pebble: POST %s failed (HTTP %ld)\n", path, status);
out:
	free(text);
	cJSON_Delete(body);
	return ret;
}

int pebble_set_txt(struct pebble *p, const char *host, const char *value)
{
	if (host == NULL || value == NULL)
		return -1;
	return chall_post(p, "/set-txt", host, value);
}

int pebble_set_a(struct pebble *p, const char *host, const char *ipv4)
{
	char url[256], fqdn[300], *text = NULL;
	long status = 0;
	int ret = -1;
	size_t n = host ? strlen(host) : 0;
	cJSON *body = cJSON_CreateObject(), *addrs = cJSON_CreateArray();
	if (body == NULL || addrs == NULL || n == 0 || n > 253 || ipv4 == NULL) {
		cJSON_Delete(addrs);
		goto out;
	}
	snprintf(fqdn, sizeof(fqdn), "%s%s", host, host[n - 1] == '.' ? "" : ".");
	cJSON_AddItemToArray(addrs, cJSON_CreateString(ipv4));
	cJSON_AddItemToObject(body, "addresses", addrs);
	if (cJSON_AddStringToObject(body, "host", fqdn) == NULL || (text = cJSON_PrintUnformatted(body)) == NULL)
		goto out;
	snprintf(url, sizeof(url), "%s/add-a", p->chall_mgmt_url);
	if (harness_fetch(&status, NULL, NULL, "POST", url, NULL, text, 5000) == 0 && status == 200)
		ret = 0;
	else
		fprintf(stderr, "pebble: POST /add-a failed (HTTP %ld)\n", status);
out:
	free(text);
	cJSON_Delete(body);
	return ret;
}

int pebble_clear_txt(struct pebble *p, const char *host)
{
	if (host == NULL)
		return -1;
	return chall_post(p, "/clear-txt", host, NULL);
}

/*
 * Pebble 2.4's WFE logs "Added order %q to the db" (wfe/wfe.go, NewOrder) once the order is stored, that is once
 * per order actually created. The request line "POST /order-plz -> calling handler()" would also count requests
 * refused before an order exists (badNonce, malformed, EAB), so it is not used. Checked against Debian's pebble
 * 2.4.0 with a hand-driven account + two newOrder requests: the count went 0, 1, 2.
 */
#define ORDER_LOG_PATTERN "Added order "

int pebble_count_orders(const struct pebble *p)
{
	char *text = harness_read_file(p->log_file, NULL);
	int n = 0;

	if (text == NULL)
		return -1;
	for (char *line = text; line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n');
		if (end != NULL)
			*end = '\0';
		if (strstr(line, ORDER_LOG_PATTERN) != NULL)
			n++;
		line = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}
