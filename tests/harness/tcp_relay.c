/* The test's TCP relay (see tcp_relay.h). */
#include "tests/harness/tcp_relay.h"
#include "tests/harness/proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAIRS_MAX 64

struct pair {
	int a, b; /* the client's connection, ours to the target */
};

/* A listener on 127.0.0.1:port (0: any free port). The fd, or -1. */
static int listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	return getsockname(fd, (struct sockaddr *)&sa, &len) == 0 ? ntohs(sa.sin_port) : -1;
}

/* A listener on the port it had before the cut: a client's connection may hold it as its own end for a moment
 * (an ephemeral port), so tried for up to 2 s. */
static int listen_again(int port)
{
	for (int i = 0; i < 100; i++) {
		int fd = listen_on(port);
		if (fd >= 0)
			return fd;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	struct timeval tv = { 2, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void drop_pair(struct pair *p, int *np, int i)
{
	close(p[i].a);
	close(p[i].b);
	p[i] = p[--*np];
}

/* The relay's loop, in the child: orders on ctl ('c' cut, 'm' mend; end of file: exit), one byte back on ack
 * ('1' done, '0' failed). */
static void relay_main(struct tcp_relay *r, int ctl, int ack)
{
	int lfd[TCP_RELAY_MAX];
	struct pair pair[PAIRS_MAX];
	int np = 0;
	char buf[65536];

	for (int i = 0; i < r->n; i++)
		lfd[i] = listen_again(r->port[i]);
	for (;;) {
		struct pollfd pf[1 + TCP_RELAY_MAX + 2 * PAIRS_MAX];
		int k = 0;
		pf[k++] = (struct pollfd){ .fd = ctl, .events = POLLIN };
		for (int i = 0; i < r->n; i++)
			pf[k++] = (struct pollfd){ .fd = lfd[i], .events = POLLIN }; /* -1 while cut: ignored */
		for (int i = 0; i < np; i++) {
			pf[k++] = (struct pollfd){ .fd = pair[i].a, .events = POLLIN };
			pf[k++] = (struct pollfd){ .fd = pair[i].b, .events = POLLIN };
		}
		if (poll(pf, (nfds_t)k, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (pf[0].revents) {
			char c;
			if (read(ctl, &c, 1) != 1)
				_exit(0);
			int ok = 1;
			if (c == 'c') {
				for (int i = 0; i < r->n; i++) {
					if (lfd[i] >= 0)
						close(lfd[i]);
					lfd[i] = -1;
				}
				while (np > 0)
					drop_pair(pair, &np, np - 1);
			} else {
				for (int i = 0; i < r->n; i++)
					if (lfd[i] < 0 && (lfd[i] = listen_again(r->port[i])) < 0)
						ok = 0;
			}
			char a = ok ? '1' : '0';
			if (write(ack, &a, 1) != 1)
				_exit(1);
			continue; /* the poll set changed */
		}
		for (int i = 0; i < r->n; i++) {
			if (lfd[i] < 0 || !(pf[1 + i].revents & POLLIN))
				continue;
			int a = accept4(lfd[i], NULL, NULL, SOCK_CLOEXEC);
			if (a < 0)
				continue;
			int b = np < PAIRS_MAX ? connect_to(r->to[i]) : -1;
			if (b < 0) {
				close(a);
				continue;
			}
			struct timeval tv = { 2, 0 };
			setsockopt(a, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
			pair[np++] = (struct pair){ a, b };
		}
		/* The pairs as polled (an accepted one is polled next round); from the last, since a dropped pair
		 * takes the last one's place. */
		int polled = (k - 1 - r->n) / 2;
		for (int i = polled - 1; i >= 0; i--) {
			struct pollfd *pa = &pf[1 + r->n + 2 * i], *pb = pa + 1;
			int bad = 0;
			for (int side = 0; side < 2 && !bad; side++) {
				struct pollfd *from = side ? pb : pa;
				if (!from->revents)
					continue;
				ssize_t n = read(from->fd, buf, sizeof buf);
				if (n < 0 && errno == EINTR)
					continue;
				bad = n <= 0 || write_all(side ? pair[i].a : pair[i].b, buf, (size_t)n) != 0;
			}
			if (bad)
				drop_pair(pair, &np, i);
		}
	}
}

static void relay_stop_obj(void *obj)
{
	tcp_relay_stop(obj);
}

int tcp_relay_start(struct tcp_relay *r, const int *to, int n)
{
	int ctl[2] = { -1, -1 }, ack[2] = { -1, -1 };
	memset(r, 0, sizeof *r);
	r->ctl = r->ack = -1;
	if (n <= 0 || n > TCP_RELAY_MAX)
		return -1;
	r->n = n;
	/* The ports are chosen here, so that the test knows them before the child listens on them. */
	for (int i = 0; i < n; i++) {
		int fd = listen_on(0);
		r->port[i] = fd >= 0 ? port_of(fd) : -1;
		if (fd >= 0)
			close(fd);
		r->to[i] = to[i];
		if (r->port[i] <= 0)
			return -1;
	}
	if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(ack, O_CLOEXEC) != 0)
		goto fail;
	pid_t parent = getpid();
	r->pid = fork();
	if (r->pid < 0) {
		r->pid = 0;
		goto fail;
	}
	if (r->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		signal(SIGPIPE, SIG_IGN);
		/* Only its two pipe ends: another relay's order pipe held here would never reach its end of file, and
		 * the test's own connections are not the relay's. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != ctl[0] && fd != ack[1])
				close(fd);
		relay_main(r, ctl[0], ack[1]);
		_exit(0);
	}
	close(ctl[0]);
	close(ack[1]);
	r->ctl = ctl[1];
	r->ack = ack[0];
	harness_reg_add(r, relay_stop_obj);
	for (long t0 = harness_now_ms(); harness_now_ms() - t0 < 3000; harness_sleep_ms(20)) {
		int up = 1;
		for (int i = 0; i < n; i++)
			up = up && harness_tcp_connects(r->port[i]);
		if (up)
			return 0;
	}
	fprintf(stderr, "  tcp relay: not listening within 3 s\n");
	tcp_relay_stop(r);
	return -1;
fail:
	fprintf(stderr, "  tcp relay: %s\n", strerror(errno));
	for (int i = 0; i < 2; i++) {
		if (ctl[i] >= 0)
			close(ctl[i]);
		if (ack[i] >= 0)
			close(ack[i]);
	}
	return -1;
}

/* Sends the order c and waits up to 3 s for its acknowledgement. */
static int order(struct tcp_relay *r, char c)
{
	char a = '0';
	struct pollfd pf = { .fd = r->ack, .events = POLLIN };
	if (r->pid <= 0 || write(r->ctl, &c, 1) != 1)
		return -1;
	if (poll(&pf, 1, 3000) != 1 || read(r->ack, &a, 1) != 1 || a != '1') {
		fprintf(stderr, "  tcp relay: the order '%c' was not carried out\n", c);
		return -1;
	}
	return 0;
}

int tcp_relay_cut(struct tcp_relay *r)
{
	return order(r, 'c');
}

int tcp_relay_mend(struct tcp_relay *r)
{
	return order(r, 'm');
}

void tcp_relay_stop(struct tcp_relay *r)
{
	if (r->ctl >= 0)
		close(r->ctl); /* the relay exits at the end of its orders */
	if (r->ack >= 0)
		close(r->ack);
	r->ctl = r->ack = -1;
	if (r->pid > 0)
		harness_stop_child(r->pid, SIGTERM, 1000, 0);
	r->pid = 0;
	harness_reg_remove(r);
}
