/* The minimal DNS client (see dns.h). RFC 1035 section 4 for the message format. */
#include "util/dns.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR 12
#define NAME_MAX_WIRE 255
#define NAME_MAX_TEXT AT_DNS_NAME_TEXT
#define CLASS_IN 1
#define RCODE_NXDOMAIN 3
#define UDP_MAX 65535

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int at_dns_build_query(unsigned char *out, size_t cap, size_t *len, const char *name, uint16_t id, uint16_t qtype)
{
	size_t n = strlen(name), off = HDR, wire = 1;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || name[n - 1] == '.')
		return AT_E_BADNAME;
	if (cap < HDR + n + 2 + 4)
		return AT_E_RANGE;
	memset(out, 0, HDR);
	out[0] = (unsigned char)(id >> 8);
	out[1] = (unsigned char)id;
	out[2] = 0x01; /* RD */
	out[5] = 1;    /* QDCOUNT */
	for (size_t i = 0; i < n;) {
		size_t l = 0;
		while (i + l < n && name[i + l] != '.')
			l++;
		if (l == 0 || l > 63)
			return AT_E_BADNAME;
		wire += 1 + l;
		out[off++] = (unsigned char)l;
		memcpy(out + off, name + i, l);
		off += l;
		i += l + 1;
	}
	if (wire > NAME_MAX_WIRE)
		return AT_E_BADNAME;
	out[off++] = 0;
	out[off++] = (unsigned char)(qtype >> 8);
	out[off++] = (unsigned char)qtype;
	out[off++] = 0;
	out[off++] = CLASS_IN;
	*len = off;
	return 0;
}

/* See dns.h. Pointers must point backwards (before the byte where the current stretch of labels began), and at
 * most AT_DNS_MAX_JUMPS are followed, so a loop cannot hold it. */
int at_dns_read_name(const unsigned char *msg, size_t len, size_t *off, char text[AT_DNS_NAME_TEXT])
{
	size_t pos = *off, start = *off, t = 0, wire = 1, end = 0;
	int jumps = 0, jumped = 0;

	for (;;) {
		if (pos >= len)
			return AT_E_PARSE;
		unsigned c = msg[pos];
		if (c == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if ((c & 0xC0) == 0xC0) {
			if (pos + 2 > len || ++jumps > AT_DNS_MAX_JUMPS)
				return AT_E_PARSE;
			size_t target = (size_t)(get16(msg + pos) & 0x3FFF);
			if (target >= start)
				return AT_E_PARSE; /* forwards or onto itself: a loop in the making */
			if (!jumped)
				end = pos + 2;
			jumped = 1;
			pos = start = target;
			continue;
		}
		if (c & 0xC0)
			return AT_E_PARSE; /* 0x40 and 0x80: extended label types, not in answers we ask for */
		if (pos + 1 + c > len)
			return AT_E_PARSE;
		wire += 1 + c;
		if (wire > NAME_MAX_WIRE)
			return AT_E_PARSE;
		if (t > 0)
			text[t++] = '.';
		for (unsigned i = 0; i < c; i++) {
			unsigned char ch = msg[pos + 1 + i];
			text[t++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		pos += 1 + c;
	}
	text[t] = '\0';
	*off = end;
	return 0;
}

/* name as asked (any case, an optional final dot) equals a name read from the message (lower case). */
static int same_name(const char *asked, const char *read)
{
	size_t n = strlen(asked), m = strlen(read);
	if (n > 0 && asked[n - 1] == '.')
		n--;
	return n == m && strncasecmp(asked, read, n) == 0;
}

/* The character-strings of one TXT RDATA, concatenated, equal value. -1 when they do not fill rdlen exactly. */
static int txt_equals(const unsigned char *rd, size_t rdlen, const char *value)
{
	size_t vlen = strlen(value), at = 0, off = 0;
	int equal = 1;

	while (off < rdlen) {
		size_t l = rd[off++];
		if (off + l > rdlen)
			return -1;
		if (equal && (at + l > vlen || memcmp(rd + off, value + at, l) != 0))
			equal = 0;
		at += l;
		off += l;
	}
	return equal && at == vlen;
}

/* The SOA RDATA at msg[off] (rdlen bytes): two names that end exactly 20 bytes (five 32-bit values) before the
 * end. Names may be compressed, pointing anywhere earlier in the message. */
static int soa_ok(const unsigned char *msg, size_t off, size_t rdlen)
{
	char tmp[NAME_MAX_TEXT];
	size_t r = off, end = off + rdlen;
	if (at_dns_read_name(msg, end, &r, tmp) != 0 || at_dns_read_name(msg, end, &r, tmp) != 0)
		return 0;
	return r + 20 == end;
}

/*
 * The answer to (name, qtype IN) with the given id. TXT: *found when a TXT record of name or of the end of a
 * CNAME chain from it equals value. SOA: *found when the answer section holds an SOA record owned by name itself
 * (a zone apex; a CNAME is not followed, since no apex is an alias).
 */
static int parse_answer(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
			const char *value, int *found)
{
	char owner[NAME_MAX_TEXT], target[NAME_MAX_TEXT], cname[NAME_MAX_TEXT];
	size_t off = HDR;
	int hit = 0, links = 0;

	if (len < HDR || get16(msg) != id)
		return AT_E_PARSE;
	if (!(msg[2] & 0x80) || (msg[2] & 0x78) != 0)
		return AT_E_PARSE; /* not a response, or not to a standard query */
	if (msg[2] & 0x02)
		return AT_E_TOOBIG; /* TC */
	unsigned rcode = msg[3] & 0x0F, qd = get16(msg + 4), an = get16(msg + 6);
	if (qd != 1)
		return AT_E_PARSE;
	if (at_dns_read_name(msg, len, &off, owner) != 0 || off + 4 > len)
		return AT_E_PARSE;
	if (!same_name(name, owner) || get16(msg + off) != qtype || get16(msg + off + 2) != CLASS_IN)
		return AT_E_PARSE;
	off += 4;
	if (rcode == RCODE_NXDOMAIN) {
		*found = 0;
		return 0;
	}
	if (rcode != 0)
		return AT_E_NET;

	snprintf(target, sizeof(target), "%s", owner);
	for (unsigned i = 0; i < an; i++) {
		if (at_dns_read_name(msg, len, &off, owner) != 0 || off + 10 > len)
			return AT_E_PARSE;
		unsigned type = get16(msg + off), klass = get16(msg + off + 2);
		size_t rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return AT_E_PARSE;
		if (qtype == AT_DNS_TYPE_SOA) {
			if (klass == CLASS_IN && type == AT_DNS_TYPE_SOA) {
				if (!soa_ok(msg, off, rdlen))
					return AT_E_PARSE;
				if (strcmp(owner, target) == 0)
					hit = 1;
			}
		} else if (klass == CLASS_IN && type == AT_DNS_TYPE_CNAME && strcmp(owner, target) == 0) {
			size_t r = off;
			if (++links > AT_DNS_MAX_CNAMES || at_dns_read_name(msg, off + rdlen, &r, cname) != 0 ||
			    r != off + rdlen)
				return AT_E_PARSE;
			memcpy(target, cname, sizeof(target));
		} else if (klass == CLASS_IN && type == AT_DNS_TYPE_TXT) {
			int eq = txt_equals(msg + off, rdlen, value);
			if (eq < 0)
				return AT_E_PARSE;
			if (eq && strcmp(owner, target) == 0)
				hit = 1;
		}
		off += rdlen;
	}
	*found = hit;
	return 0;
}

int at_dns_parse_txt(const unsigned char *msg, size_t len, uint16_t id, const char *name, const char *value,
		     int *found)
{
	return parse_answer(msg, len, id, name, AT_DNS_TYPE_TXT, value, found);
}

int at_dns_parse_soa(const unsigned char *msg, size_t len, uint16_t id, const char *name, int *found)
{
	return parse_answer(msg, len, id, name, AT_DNS_TYPE_SOA, NULL, found);
}

/* ---- transport ---- */

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline passes. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, long deadline)
{
	for (;;) {
		long left = deadline - now_ms();
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

static int ask_udp(unsigned char *r, const struct sockaddr_storage *ss, socklen_t sl, const unsigned char *q,
		   size_t qlen, uint16_t id, const char *name, unsigned qtype, const char *value, long deadline,
		   int *found)
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
		ssize_t n = recv(fd, r, UDP_MAX, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			goto out; /* ECONNREFUSED: nothing listens there */
		rc = parse_answer(r, (size_t)n, id, name, qtype, value, found);
		/* An answer to another query (or garbage) is not ours: keep waiting for ours. */
		if (rc == AT_E_PARSE && ((size_t)n < HDR || get16(r) != id))
			continue;
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

/* RFC 1035 section 4.2.2: over TCP each message is prefixed with its two-byte length. */
static int ask_tcp(unsigned char *r, const struct sockaddr_storage *ss, socklen_t sl, const unsigned char *q,
		   size_t qlen, uint16_t id, const char *name, unsigned qtype, const char *value, long deadline,
		   int *found)
{
	unsigned char out[2 + 512], lenbuf[2] = { 0, 0 };
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc;

	if (fd < 0)
		return AT_E_NET;
	if (qlen > sizeof(out) - 2) {
		rc = AT_E_RANGE;
		goto out;
	}
	if (connect(fd, (const struct sockaddr *)ss, sl) != 0 && errno != EINPROGRESS) {
		rc = AT_E_NET;
		goto out;
	}
	out[0] = (unsigned char)(qlen >> 8);
	out[1] = (unsigned char)qlen;
	memcpy(out + 2, q, qlen);
	rc = io_full(fd, out, qlen + 2, 1, deadline);
	if (rc == 0)
		rc = io_full(fd, lenbuf, 2, 0, deadline);
	size_t n = get16(lenbuf);
	if (rc == 0)
		rc = io_full(fd, r, n, 0, deadline);
	if (rc == 0)
		rc = parse_answer(r, n, id, name, qtype, value, found);
	if (rc == AT_E_TOOBIG)
		rc = AT_E_PARSE; /* TC over TCP makes no sense */
out:
	close(fd);
	return rc;
}

/* One question (name, qtype) to server_ip:port over UDP, then TCP when truncated. */
static int ask(const char *server_ip, int port, const char *name, unsigned qtype, const char *value, int timeout_ms,
	       int *found)
{
	unsigned char q[512];
	size_t qlen;
	uint16_t id;
	struct sockaddr_storage ss;
	socklen_t sl;
	long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	int rc;

	if (server_ip == NULL || name == NULL || make_addr(&ss, &sl, server_ip, port) != 0)
		return AT_E_INVAL;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		id = (uint16_t)(ts.tv_nsec ^ getpid());
	}
	rc = at_dns_build_query(q, sizeof(q), &qlen, name, id, (uint16_t)qtype);
	if (rc != 0)
		return rc == AT_E_RANGE ? AT_E_BADNAME : rc;
	/* One buffer for the largest message either transport can carry (a two-byte length caps both). */
	unsigned char *r = malloc(UDP_MAX);
	if (r == NULL)
		return AT_E_NOMEM;
	rc = ask_udp(r, &ss, sl, q, qlen, id, name, qtype, value, deadline, found);
	if (rc == AT_E_TOOBIG)
		rc = ask_tcp(r, &ss, sl, q, qlen, id, name, qtype, value, deadline, found);
	free(r);
	return rc;
}

int at_dns_txt_has(const char *server_ip, int port, const char *name, const char *value, int timeout_ms,
		   int *found)
{
	if (value == NULL)
		return AT_E_INVAL;
	return ask(server_ip, port, name, AT_DNS_TYPE_TXT, value, timeout_ms, found);
}

int at_dns_is_zone(const char *server_ip, int port, const char *name, int timeout_ms, int *found)
{
	return ask(server_ip, port, name, AT_DNS_TYPE_SOA, NULL, timeout_ms, found);
}

int at_dns_tcp_exchange(const char *server_ip, int port, const unsigned char *q, size_t qlen, unsigned char *r,
			size_t cap, size_t *rlen, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	unsigned char lenbuf[2] = { 0, 0 };
	unsigned char *out = NULL;
	long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
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
	out[0] = (unsigned char)(qlen >> 8);
	out[1] = (unsigned char)qlen;
	memcpy(out + 2, q, qlen);
	rc = io_full(fd, out, qlen + 2, 1, deadline);
	if (rc == 0)
		rc = io_full(fd, lenbuf, 2, 0, deadline);
	size_t n = get16(lenbuf);
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

int at_dns_system_resolver(char *ip, size_t cap, const char *resolv_conf)
{
	FILE *f = fopen(resolv_conf ? resolv_conf : "/etc/resolv.conf", "re");
	char line[512];
	int rc = AT_E_NOTFOUND;

	if (f == NULL)
		return AT_E_NOTFOUND;
	while (fgets(line, sizeof(line), f) != NULL) {
		char word[16], addr[INET6_ADDRSTRLEN + 32];
		unsigned char bin[sizeof(struct in6_addr)];
		if (sscanf(line, " %15s %77s", word, addr) != 2 || strcmp(word, "nameserver") != 0)
			continue;
		char *pct = strchr(addr, '%'); /* fe80::1%eth0: the zone index is not supported */
		if (pct != NULL)
			continue;
		if ((inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1) && strlen(addr) < cap) {
			memcpy(ip, addr, strlen(addr) + 1);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}
