/*
 * Handshake cost of the shim: full TLS 1.3 handshakes (a new connection and no resumption each time) against
 * two servers, A (the baseline) and B (the same server under the shim serving the same certificate as a
 * managed one), interleaved round by round so that both see the same machine. For each round it counts
 * handshakes and the server's CPU time (utime + stime of the master and its children, from /proc), and prints
 * handshakes per second, handshakes per server CPU-second, and the B/A ratios of the medians.
 *
 *   bench_handshake NAME ROOT_PEM SECONDS ROUNDS PORT_A PIDFILE_A PORT_B PIDFILE_B
 *   bench_handshake --seed STORE CA_URL NAME CERT_PEM KEY_PEM      (puts CERT/KEY into a store as NAME's record)
 */
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/pebble.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime in clock ticks of pid and its children (one level: nginx's master and workers). */
static long long cpu_ticks(pid_t master)
{
	long long total = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char path[300], buf[1024];
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		if (rp == NULL)
			continue;
		int pid = atoi(de->d_name), ppid = 0;
		unsigned long long ut = 0, st = 0;
		/* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
		if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &ut, &st) != 3)
			continue;
		if (pid == master || ppid == master)
			total += (long long)(ut + st);
	}
	if (d)
		closedir(d);
	return total;
}

static pid_t read_pid(const char *file)
{
	FILE *f = fopen(file, "r");
	int pid = 0;
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

static int handshake(SSL_CTX *ctx, int port, const char *name)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		SSL *ssl = SSL_new(ctx);
		SSL_set_tlsext_host_name(ssl, name);
		SSL_set1_host(ssl, name);
		SSL_set_fd(ssl, fd);
		ok = SSL_connect(ssl) == 1 && SSL_get_verify_result(ssl) == X509_V_OK;
		SSL_free(ssl); /* no shutdown: the server sees a reset, as with most load tools */
	}
	close(fd);
	return ok;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int seed(char **argv)
{
	struct at_store *s = NULL;
	char ca[256];
	size_t cl = 0, kl = 0;
	char *chain = harness_read_file(argv[5], &cl), *key = harness_read_file(argv[6], &kl);
	char *names[] = { argv[4] };
	if (chain == NULL || key == NULL || at_store_open_file(&s, argv[2]) != 0 ||
	    at_store_ca_component(ca, sizeof(ca), argv[3]) != 0)
		return 1;
	struct at_cert_record rec = { .key_pem = key, .key_len = kl, .chain_pem = chain, .chain_len = cl,
				      .names = names, .nnames = 1 };
	int rc = at_cert_record_save(s, ca, &rec);
	at_store_close(s);
	free(chain);
	free(key);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "--seed") == 0)
		return seed(argv);
	if (argc != 9) {
		fprintf(stderr, "usage: see the comment at the top of bench_handshake.c\n");
		return 2;
	}
	const char *name = argv[1];
	double secs = atof(argv[3]);
	int rounds = atoi(argv[4]);
	int port[2] = { atoi(argv[5]), atoi(argv[7]) };
	pid_t pid[2] = { read_pid(argv[6]), read_pid(argv[8]) };
	long hz = sysconf(_SC_CLK_TCK);
	double rate[2][64], per_cpu[2][64];
	if (rounds < 1 || rounds > 64 || pid[0] <= 0 || pid[1] <= 0)
		return 2;

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_load_verify_locations(ctx, argv[2], NULL);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* Warm both (and check both serve a certificate that verifies for the name). */
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < 50; i++)
			if (!handshake(ctx, port[s], name)) {
				fprintf(stderr, "server %c: a handshake for %s does not verify\n", 'A' + s, name);
				return 1;
			}
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			int s = (r + k) % 2; /* alternate which goes first */
			long long c0 = cpu_ticks(pid[s]);
			double t0 = now_s(), t;
			long n = 0, bad = 0;
			while ((t = now_s()) - t0 < secs) {
				if (handshake(ctx, port[s], name))
					n++;
				else
					bad++;
			}
			double cpu = (double)(cpu_ticks(pid[s]) - c0) / (double)hz;
			rate[s][r] = (double)n / (t - t0);
			per_cpu[s][r] = cpu > 0 ? (double)n / cpu : 0;
			if (bad)
				fprintf(stderr, "server %c: %ld failed handshakes in round %d\n", 'A' + s, bad, r);
		}
	}
	for (int s = 0; s < 2; s++) {
		qsort(rate[s], (size_t)rounds, sizeof(double), cmp);
		qsort(per_cpu[s], (size_t)rounds, sizeof(double), cmp);
	}
	double ra = rate[0][rounds / 2], rb = rate[1][rounds / 2];
	double ca = per_cpu[0][rounds / 2], cb = per_cpu[1][rounds / 2];
	printf("handshakes/s (median of %d rounds of %.1f s): A %.0f, B %.0f, ratio B/A %.3f\n", rounds, secs, ra, rb,
	       rb / ra);
	printf("handshakes per server CPU-second: A %.0f, B %.0f, ratio B/A %.3f (target >= 0.98)\n", ca, cb, cb / ca);
	SSL_CTX_free(ctx);
	return 0;
}
