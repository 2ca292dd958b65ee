/* The minimal DNS client (see dns.h). RFC 1035 section 4 for the message format. */
#include "util/dns.h"
#include "util/clock.h"
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

int at_dns_soa_ok(const unsigned char *msg, size_t off, size_t rdlen)
{
	char tmp[NAME_MAX_TEXT];
	size_t r = off, end = off + rdlen;
	if (at_dns_read_name(msg, end, &r, tmp) != 0 || at_dns_read_name(msg, end, &r, tmp) != 0)
		return 0;
	return r + 20 == end;
}

/* RFC 1035 section 4.1.1: the header, then the one question, which must be the one we asked. */
int at_dns_read_head(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
		     struct at_dns_head *h)
{
	char owner[NAME_MAX_TEXT];
	size_t off = HDR;

	if (len < HDR || get16(msg) != id)
		return AT_E_PARSE;
	if (!(msg[2] & 0x80) || (msg[2] & 0x78) != 0)
		return AT_E_PARSE; /* not a response, or not to a standard query */
	if (msg[2] & 0x02)
		return AT_E_TOOBIG; /* TC */
	if (get16(msg + 4) != 1)
		return AT_E_PARSE;
	if (at_dns_read_name(msg, len, &off, owner) != 0 || off + 4 > len)
		return AT_E_PARSE;
	if (!same_name(name, owner) || get16(msg + off) != qtype || get16(msg + off + 2) != CLASS_IN)
		return AT_E_PARSE;
	h->rcode = msg[3] & 0x0F;
	h->aa = (msg[2] & 0x04) != 0;
	h->an = get16(msg + 6);
	h->ns = get16(msg + 8);
	h->ar = get16(msg + 10);
	h->off = off + 4;
	memcpy(h->qname, owner, sizeof(owner));
	return 0;
}

/* RFC 1035 section 4.1.3: owner, type, class, TTL, RDLENGTH, then RDATA that must fit in the message. */
int at_dns_read_rr(const unsigned char *msg, size_t len, size_t *off, struct at_dns_rr *rr)
{
	size_t o = *off;

	if (at_dns_read_name(msg, len, &o, rr->owner) != 0 || o + 10 > len)
		return AT_E_PARSE;
	rr->type = get16(msg + o);
	rr->klass = get16(msg + o + 2);
	rr->rdlen = get16(msg + o + 8);
	rr->rdoff = o + 10;
	if (rr->rdoff + rr->rdlen > len)
		return AT_E_PARSE;
	*off = rr->rdoff + rr->rdlen;
	return 0;
}

/* A name that is the whole RDATA (CNAME, NS): nothing may follow it. */
int at_dns_read_rdata_name(const unsigned char *msg, const struct at_dns_rr *rr, char text[AT_DNS_NAME_TEXT])
{
	size_t r = rr->rdoff, end = rr->rdoff + rr->rdlen;
	if (at_dns_read_name(msg, end, &r, text) != 0 || r != end)
		return AT_E_PARSE;
	return 0;
}

/*
 * The answer to (name, qtype IN) with the given id. TXT: *found when a TXT record of name or of the end of a
 * CNAME chain from it equals value. SOA: *found when the answer section holds an SOA record owned by name itself
 * (a zone apex; a CNAME is not followed, since no apex is an alias).
 */
static int parse_answer(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
			const char *value, int *found)
{
	char target[NAME_MAX_TEXT], cname[NAME_MAX_TEXT];
	struct at_dns_head h;
	struct at_dns_rr rr;
	int hit = 0, links = 0;
	int rc = at_dns_read_head(msg, len, id, name, qtype, &h);

	if (rc != 0)
		return rc;
	if (h.rcode == RCODE_NXDOMAIN) {
		*found = 0;
		return 0;
	}
	if (h.rcode != 0)
		return AT_E_NET;

	size_t off = h.off;
	memcpy(target, h.qname, sizeof(target));
	for (unsigned i = 0; i < h.an; i++) {
		if (at_dns_read_rr(msg, len, &off, &rr) != 0)
			return AT_E_PARSE;
		if (rr.klass != CLASS_IN)
			continue;
		if (qtype == AT_DNS_TYPE_SOA) {
			if (rr.type == AT_DNS_TYPE_SOA) {
				if (!at_dns_soa_ok(msg, rr.rdoff, rr.rdlen))
					return AT_E_PARSE;
				if (strcmp(rr.owner, target) == 0)
					hit = 1;
			}
		} else if (rr.type == AT_DNS_TYPE_CNAME && strcmp(rr.owner, target) == 0) {
			if (++links > AT_DNS_MAX_CNAMES || at_dns_read_rdata_name(msg, &rr, cname) != 0)
				return AT_E_PARSE;
			memcpy(target, cname, sizeof(target));
		} else if (rr.type == AT_DNS_TYPE_TXT) {
			int eq = txt_equals(msg + rr.rdoff, rr.rdlen, value);
			if (eq < 0)
				return AT_E_PARSE;
			if (eq && strcmp(rr.owner, target) == 0)
				hit = 1;
		}
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
		if ((size_t)n < HDR || get16(r) != id || !(r[2] & 0x80))
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
		if (rc == 0 && (n < HDR || get16(r) != id))
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

/* One question (name, qtype) with RD set, answered and parsed. */
static int ask(const char *server_ip, int port, const char *name, unsigned qtype, const char *value, int timeout_ms,
	       int *found)
{
	size_t n;
	uint16_t id;
	/* One buffer for the largest message either transport can carry (a two-byte length caps both). */
	unsigned char *r = malloc(UDP_MAX);
	if (r == NULL)
		return AT_E_NOMEM;
	int rc = at_dns_exchange(server_ip, port, name, (uint16_t)qtype, 1, r, UDP_MAX, &n, &id, timeout_ms);
	if (rc == 0)
		rc = parse_answer(r, n, id, name, qtype, value, found);
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
