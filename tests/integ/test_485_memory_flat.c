/*
 * A server under the shim holds its memory flat over 100,000 handshakes, managed and unmanaged names mixed.
 * nginx under the shim, one worker (as www-data when we are root), started in the foreground as our child
 * (its own session, so a stop can sweep its group; the autotls-manager process lives in a session of its own
 * and leaves through its lifeline). Once the managed certificate verifies: 5,000 warm-up handshakes, the
 * worker's VmRSS (the worker is the master's child whose comm is nginx: the master's other child is
 * autotls-manager), then 100,000 full TLS 1.3 handshakes (no tickets, no resumption, a new SSL each time) from
 * three client threads, SNI cycling through the managed name, an unmanaged one and "x<N>.junk.test" with N
 * always new; VmRSS again. The growth must stay under 1 MiB. Every handshake must complete, and each must be
 * served the right certificate (Pebble's issuer for the managed name, the placeholder for the others).
 */
#include "tests/harness/files.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WARMUP 5000
#define HANDSHAKES 100000
#define THREADS 3
#define GROWTH_LIMIT_KB 1024

static int port;
static atomic_long next_n, failed, wrong, done;
static long target;

static long vm_rss_kb(pid_t pid)
{
	char path[64], *text, *p;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = harness_read_file(path, NULL);
	if (text != NULL && (p = strstr(text, "VmRSS:")) != NULL)
		kb = strtol(p + 6, NULL, 10);
	free(text);
	return kb;
}

/* The master's child whose comm is "nginx" (its other child is autotls-manager). 0 when none or several. */
static pid_t find_worker(pid_t master)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;
	int n = 0;

	while (d && (de = readdir(d)) != NULL) {
		char path[64], *text;
		pid_t pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		text = harness_read_file(path, NULL);
		if (text != NULL) {
			char *open_paren = strchr(text, '('), *close_paren = strrchr(text, ')');
			int ppid = 0;
			if (open_paren && close_paren && sscanf(close_paren + 2, "%*c %d", &ppid) == 1 && ppid == master &&
			    close_paren - open_paren - 1 == 5 && strncmp(open_paren + 1, "nginx", 5) == 0) {
				found = pid;
				n++;
			}
		}
		free(text);
	}
	if (d)
		closedir(d);
	return n == 1 ? found : 0;
}

static void *client(void *arg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char name[64];
	(void)arg;

	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	for (;;) {
		long n = atomic_fetch_add(&next_n, 1);
		if (n >= target)
			break;
		int kind = (int)(n % 3);
		if (kind == 0)
			snprintf(name, sizeof(name), "%s", SHIM_NAME);
		else if (kind == 1)
			snprintf(name, sizeof(name), "%s", SHIM_UNMANAGED);
		else
			snprintf(name, sizeof(name), "x%ld.junk.test", n);
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		SSL *ssl = NULL;
		int ok = 0;
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			ssl = SSL_new(ctx);
			SSL_set_fd(ssl, fd);
			SSL_set_tlsext_host_name(ssl, name);
			if (SSL_connect(ssl) == 1) {
				ok = 1;
				X509 *peer = SSL_get0_peer_certificate(ssl);
				char issuer[256] = "", subject[256] = "";
				if (peer) {
					X509_NAME_oneline(X509_get_issuer_name(peer), issuer, sizeof(issuer));
					X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
				}
				int managed = strstr(issuer, "Pebble") != NULL;
				if (kind == 0 ? !managed : (managed || strcmp(subject, "/CN=" SERVER_PLACEHOLDER_CN) != 0))
					atomic_fetch_add(&wrong, 1);
				SSL_shutdown(ssl);
			}
			SSL_free(ssl);
		}
		if (fd >= 0)
			close(fd);
		ERR_clear_error();
		if (!ok)
			atomic_fetch_add(&failed, 1);
		atomic_fetch_add(&done, 1);
	}
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}

/* count handshakes from THREADS threads; elapsed ms. */
static long run_handshakes(long count)
{
	pthread_t t[THREADS];
	long t0 = harness_now_ms();

	atomic_store(&next_n, target);
	target += count;
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, client, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	return harness_now_ms() - t0;
}

static void memory_flat(void)
{
	struct pebble p;
	struct pebble_opts po = {0};
	char dir[256] = "/tmp/autotls-flat-XXXXXX", lib[PATH_MAX], conf[300], pidf[300], errlog[300], cert[300],
	     key[300], store[300], log[300], out[300], prefix[300], roots[300];
	char e_preload[PATH_MAX + 16], e_domains[64], e_ca[200], e_roots[340], e_storage[340], e_log[340];
	int pebble_up = 0;
	pid_t pid = -1;

	harness_ignore_sigpipe();
	REQUIRE(harness_shim_lib_path(lib, sizeof(lib)) == 0);
	REQUIRE(mkdtemp(dir) != NULL);
	chmod(dir, 0755);
	port = harness_free_port();
	po.tls_port = port;
	po.authz_reuse = -1;
	if (pebble_start(&p, &po) != 0) {
		CHECK(!"pebble started");
		goto out;
	}
	pebble_up = 1;
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	snprintf(pidf, sizeof(pidf), "%s/nginx.pid", dir);
	snprintf(errlog, sizeof(errlog), "%s/error.log", dir);
	snprintf(cert, sizeof(cert), "%s/placeholder.pem", dir);
	snprintf(key, sizeof(key), "%s/placeholder.key", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(log, sizeof(log), "%s/autotls.log", dir);
	snprintf(out, sizeof(out), "%s/nginx.out", dir);
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	snprintf(roots, sizeof(roots), "%s/ca-api-root.pem", dir);
	CHECK_OK(harness_copy_file(p.api_root_file, roots, 0644));
	CHECK_OK(harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, NULL, 0));
	FILE *f = fopen(conf, "w");
	REQUIRE(f != NULL);
	fprintf(f,
		"# written by test_485: one worker\n%s"
		"daemon off;\nworker_processes 1;\npid %s;\nerror_log %s crit;\n"
		"env LD_PRELOAD;\nenv AUTOTLS_DOMAINS;\nenv AUTOTLS_CA;\nenv AUTOTLS_CA_ROOTS;\nenv AUTOTLS_STORAGE;\n"
		"env AUTOTLS_LOG;\nenv AUTOTLS_LOG_LEVEL;\n"
		"events { worker_connections 512; }\n"
		"http {\n  access_log off;\n  client_body_temp_path %s/tmp-body;\n  proxy_temp_path %s/tmp-proxy;\n"
		"  fastcgi_temp_path %s/tmp-fastcgi;\n  uwsgi_temp_path %s/tmp-uwsgi;\n  scgi_temp_path %s/tmp-scgi;\n"
		"  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_tickets off;\n  ssl_session_cache off;\n"
		"  server {\n    listen 127.0.0.1:%d ssl default_server;\n    server_name _;\n"
		"    ssl_certificate %s;\n    ssl_certificate_key %s;\n    location / { return 200 \"x\\n\"; }\n  }\n}\n",
		geteuid() == 0 ? "user www-data;\n" : "", pidf, errlog, dir, dir, dir, dir, dir, port, cert, key);
	fclose(f);
	snprintf(e_preload, sizeof(e_preload), "LD_PRELOAD=%s", lib);
	snprintf(e_domains, sizeof(e_domains), "AUTOTLS_DOMAINS=%s", SHIM_NAME);
	snprintf(e_ca, sizeof(e_ca), "AUTOTLS_CA=%s", p.directory_url);
	snprintf(e_roots, sizeof(e_roots), "AUTOTLS_CA_ROOTS=%s", roots);
	snprintf(e_storage, sizeof(e_storage), "AUTOTLS_STORAGE=%s", store);
	snprintf(e_log, sizeof(e_log), "AUTOTLS_LOG=%s", log);

	char *argv[] = {"nginx", "-p", prefix, "-c", conf, "-e", errlog, NULL};
	pid_t parent = getpid();
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent || fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		putenv(e_preload);
		putenv(e_domains);
		putenv(e_ca);
		putenv(e_roots);
		putenv(e_storage);
		putenv(e_log);
		putenv("AUTOTLS_LOG_LEVEL=info");
		putenv("AUTOTLS_CHALLENGES=tls-alpn-01"); /* Pebble validates HTTP-01 on no port of ours here */
		execvp(argv[0], argv);
		_exit(127);
	}
	REQUIRE(pid > 0);
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(port) && harness_now_ms() - t0 < 15000)
		harness_sleep_ms(50);
	/* The managed certificate, verified. */
	struct shim_env view;
	memset(&view, 0, sizeof(view));
	view.port = port;
	view.p = p;
	long ms = shim_wait_verified(&view, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		goto out;
	harness_sleep_ms(1000);
	pid_t worker = find_worker(pid);
	CHECK(worker > 0);
	if (worker <= 0)
		goto out;
	long tw = run_handshakes(WARMUP);
	long rss0 = vm_rss_kb(worker);
	fprintf(stderr, "  worker %d: %d warm-up handshakes in %ld ms, VmRSS %ld kB\n", (int)worker, WARMUP, tw, rss0);
	long fails_warm = atomic_load(&failed), wrong_warm = atomic_load(&wrong);
	long tm = run_handshakes(HANDSHAKES);
	long rss1 = vm_rss_kb(worker);
	fprintf(stderr,
		"  %d handshakes (TLS 1.3, no resumption, %d threads; managed / unmanaged / junk names in turn) in "
		"%ld ms (%.0f/s): VmRSS %ld kB -> %ld kB, growth %ld kB (limit %d kB); %ld failed, %ld served the "
		"wrong certificate (warm-up: %ld, %ld)\n",
		HANDSHAKES, THREADS, tm, HANDSHAKES * 1000.0 / (double)(tm > 0 ? tm : 1), rss0, rss1, rss1 - rss0,
		GROWTH_LIMIT_KB, atomic_load(&failed) - fails_warm, atomic_load(&wrong) - wrong_warm, fails_warm,
		wrong_warm);
	CHECK_INT(find_worker(pid), ==, worker); /* the same worker throughout */
	CHECK_INT(rss0, >, 0);
	CHECK_INT(rss1, >, 0);
	CHECK_INT(rss1 - rss0, <, GROWTH_LIMIT_KB);
	CHECK_INT(atomic_load(&failed), ==, 0);
	CHECK_INT(atomic_load(&wrong), ==, 0);
	CHECK_INT(atomic_load(&done), ==, WARMUP + HANDSHAKES);
	CHECK_INT(pebble_count_orders(&p), ==, 1);
out:
	if (pid > 0) {
		kill(pid, SIGTERM);
		long ts = harness_now_ms();
		while (waitpid(pid, NULL, WNOHANG) != pid) {
			if (harness_now_ms() - ts > 5000) {
				kill(-pid, SIGKILL);
				waitpid(pid, NULL, 0);
				break;
			}
			harness_sleep_ms(50);
		}
		kill(-pid, SIGKILL); /* a worker left behind, if any */
	}
	if (test_failed_now) {
		harness_print_tail("shim log", log, 3000);
		harness_print_tail("nginx error log", errlog, 3000);
	}
	if (pebble_up)
		pebble_stop(&p);
	harness_remove_or_keep(dir);
}

int main(void)
{
	RUN(memory_flat);
	return TEST_EXIT();
}
