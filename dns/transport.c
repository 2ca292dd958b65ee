/* DNS over UDP and TCP (see transport.h). RFC 1035 section 4.2 for both transports. */
#include "dns/transport.h"
#include "dns/wire.h"
#include "util/clock.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Waits until fd is ready for events or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, long deadline)
{
	for (;;) {
		long left = deadline - at_clock_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		return 1;
	}
}

static int make_addr(struct sockaddr_storage *ss, socklen_t *sl, const char *ip, int port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (port < 1 || port > 65535)
		return AT_E_INVAL;
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*a6);
		return 0;
	}
	return AT_E_INVAL;
}

/* Sends q over UDP and waits for a datagram with our id that is a response; other datagrams are not ours. */
static int exchange_udp(const struct sockaddr_storage *ss, socklen_t sl, const unsigned char *q, size_t qlen,
			uint16_t id, unsigned char *r, size_t cap, size_t *rlen, long deadline)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = AT_E_NET;

	if (fd < 0)
		return AT_E_NET;
	/* connect: the kernel then drops datagrams from any other address. */
	if (connect(fd, (const struct sockaddr *)ss, sl) != 0 || send(fd, q, qlen, 0) != (ssize_t)qlen)
		goto out;
	for (;;) {
		int w = wait_fd(fd, POLLIN, deadline);
		if (w <= 0) {
			rc = w == 0 ? AT_E_TIMEOUT : AT_E_NET;
			goto out;
		}
		ssize_t n = recv(fd, r, cap, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			goto out; /* ECONNREFUSED: nothing listens there */
		if ((size_t)n < AT_DNS_HDR || at_dns_get16(r) != id || !(r[2] & 0x80))
			continue;
		*rlen = (size_t)n;
		rc = 0;
		goto out;
	}
out:
	close(fd);
	return rc;
}

static int io_full(int fd, unsigned char *buf, size_t n, int writing, long deadline)
{
	size_t done = 0;
	while (done < n) {
		int w = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline);
		if (w <= 0)
			return w == 0 ? AT_E_TIMEOUT : AT_E_NET;
		ssize_t k = writing ? send(fd, buf + done, n - done, MSG_NOSIGNAL) : recv(fd, buf + done, n - done, 0);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0)
			return AT_E_NET;
		done += (size_t)k;
	}
	return 0;
}

uint16_t at_dns_new_id(void)
{
	uint16_t id;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		id = (uint16_t)(ts.tv_nsec ^ getpid());
	}
	return id;
}

int at_dns_exchange(const char *server_ip, int port, const char *name, uint16_t qtype, int rd, unsigned char *r,
		    size_t cap, size_t *rlen, uint16_t *id_out, int timeout_ms)
{
	unsigned char q[512];
	size_t qlen, n = 0;
	uint16_t id;
	struct sockaddr_storage ss;
	socklen_t sl;
	long start = at_clock_ms(), deadline = start + (timeout_ms > 0 ? timeout_ms : 1);
	int rc;

	if (server_ip == NULL || name == NULL || make_addr(&ss, &sl, server_ip, port) != 0)
		return AT_E_INVAL;
	id = at_dns_new_id();
	rc = at_dns_build_query(q, sizeof(q), &qlen, name, id, qtype);
	if (rc != 0)
		return rc == AT_E_RANGE ? AT_E_BADNAME : rc;
	if (!rd)
		q[2] &= (unsigned char)~0x01;
	rc = exchange_udp(&ss, sl, q, qlen, id, r, cap, &n, deadline);
	/* RFC 7766 section 5: a truncated answer is asked again over TCP. */
	if (rc == 0 && (r[2] & 0x02)) {
		long left = deadline - at_clock_ms();
		if (left <= 0)
			return AT_E_TIMEOUT;
		rc = at_dns_tcp_exchange(server_ip, port, q, qlen, r, cap, &n, (int)left);
		if (rc == 0 && (n < AT_DNS_HDR || at_dns_get16(r) != id))
			rc = AT_E_PARSE;
		if (rc == 0 && (r[2] & 0x02))
			rc = AT_E_PARSE; /* TC over TCP makes no sense */
	}
	if (rc != 0)
		return rc;
	*rlen = n;
	*id_out = id;
	return 0;
}

int at_dns_exchange_by(const char *server_ip, int port, const char *name, uint16_t qtype, long deadline,
		       unsigned char *r, size_t *rlen, uint16_t *id)
{
	long left = deadline - at_clock_ms();
	if (left <= 0)
		return AT_E_TIMEOUT;
	return at_dns_exchange(server_ip, port, name, qtype, 1, r, AT_DNS_MSG_MAX, rlen, id,
			       (int)(left < AT_DNS_QUERY_MS ? left : AT_DNS_QUERY_MS));
}

int at_dns_tcp_exchange(const char *server_ip, int port, const unsigned char *q, size_t qlen, unsigned char *r,
			size_t cap, size_t *rlen, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned char lenbuf[2] = { 0, 0 };
	unsigned char *out = NULL;
	long deadline = at_clock_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	int fd = -1, rc;

	if (server_ip == NULL || make_addr(&ss, &sl, server_ip, port) != 0 || qlen > 65535)
		return AT_E_INVAL;
	out = malloc(qlen + 2);
	if (out == NULL)
		return AT_E_NOMEM;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || (connect(fd, (const struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS)) {
		rc = AT_E_NET;
		goto out;
	}
	at_dns_put16(out, (unsigned)qlen);
	memcpy(out + 2, q, qlen);
	rc = io_full(fd, out, qlen + 2, 1, deadline);
	if (rc == 0)
		rc = io_full(fd, lenbuf, 2, 0, deadline);
	size_t n = at_dns_get16(lenbuf);
	if (rc == 0 && n > cap)
		rc = AT_E_TOOBIG;
	if (rc == 0)
		rc = io_full(fd, r, n, 0, deadline);
	if (rc == 0)
		*rlen = n;
out:
	if (fd >= 0)
		close(fd);
	free(out);
	return rc;
}
