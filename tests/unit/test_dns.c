/*
 * The DNS client (dns/wire.c, dns/query.c, dns/transport.c): the query builder, the TXT answer parser from a
 * table of hand-built answers (good ones, and hostile ones: truncated, pointer loops, lengths past the end, wrong
 * id, another question), resolv.conf, and the transport against a local server that answers UDP with TC set and
 * the full answer over TCP.
 */
#include "tests/harness/dns_msg.h"
#include "tests/test.h"
#include "dns/query.h"
#include "dns/wire.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The question every table answer is for: a.test TXT IN, id 0x1234. */
#define ID 0x12, 0x34
#define HDR(f, an) ID, (f) >> 8, (f) & 0xFF, 0, 1, 0, an, 0, 0, 0, 0
#define OK_FLAGS 0x8180 /* QR RD RA, NOERROR */
#define Q 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 1
#define RR(type, rdlen) 0, type, 0, 1, 0, 0, 0, 60, 0, rdlen
#define PTR_Q 0xC0, 12 /* the question's name */

struct row {
	const char *what;
	unsigned char msg[160];
	size_t len;
	int rc;
	int found;
};

#define ROW(what, rc, found, ...)                                                                    \
	{ what, { __VA_ARGS__ }, sizeof((unsigned char[]){ __VA_ARGS__ }), rc, found }

static const struct row rows[] = {
	ROW("one string", 0, 1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 4), 3, 'a', 'b', 'c'),
	ROW("split strings", 0, 1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 5), 1, 'a', 2, 'b', 'c'),
	ROW("an empty string among them", 0, 1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 5), 0, 3, 'a', 'b', 'c'),
	ROW("another value", 0, 0, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 4), 3, 'x', 'y', 'z'),
	ROW("a prefix", 0, 0, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 3), 2, 'a', 'b'),
	ROW("longer", 0, 0, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 5), 4, 'a', 'b', 'c', 'd'),
	ROW("second record matches", 0, 1, HDR(OK_FLAGS, 2), Q, PTR_Q, RR(16, 2), 1, 'x', PTR_Q, RR(16, 4), 3, 'a',
	    'b', 'c'),
	ROW("two records make no value", 0, 0, HDR(OK_FLAGS, 2), Q, PTR_Q, RR(16, 2), 1, 'a', PTR_Q, RR(16, 3), 2,
	    'b', 'c'),
	ROW("no answer", 0, 0, HDR(OK_FLAGS, 0), Q),
	ROW("NXDOMAIN", 0, 0, HDR(0x8183, 0), Q),
	ROW("owner spelled out, upper case", 0, 1, HDR(OK_FLAGS, 1), Q, 1, 'A', 4, 'T', 'E', 'S', 'T', 0, RR(16, 4),
	    3, 'a', 'b', 'c'),
	ROW("another owner", 0, 0, HDR(OK_FLAGS, 1), Q, 1, 'b', 4, 't', 'e', 's', 't', 0, RR(16, 4), 3, 'a', 'b',
	    'c'),
	ROW("CNAME then TXT of the target", 0, 1, HDR(OK_FLAGS, 2), Q, PTR_Q, RR(5, 4), 1, 'c', 0xC0, 14, 0xC0,
	    36, RR(16, 4), 3, 'a', 'b', 'c'),
	ROW("a class other than IN", 0, 0, HDR(OK_FLAGS, 1), Q, PTR_Q, 0, 16, 0, 3, 0, 0, 0, 60, 0, 4, 3, 'a', 'b',
	    'c'),
	ROW("SERVFAIL", AT_E_NET, -1, HDR(0x8182, 0), Q),
	ROW("REFUSED", AT_E_NET, -1, HDR(0x8185, 0), Q),
	ROW("truncated (TC)", AT_E_TOOBIG, -1, HDR(0x8380, 0), Q),
	ROW("wrong id", AT_E_PARSE, -1, 0x12, 0x35, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, Q, PTR_Q, RR(16, 4), 3, 'a',
	    'b', 'c'),
	ROW("a query, not a response", AT_E_PARSE, -1, HDR(0x0100, 0), Q),
	ROW("opcode not QUERY", AT_E_PARSE, -1, HDR(0x8980, 0), Q),
	ROW("short header", AT_E_PARSE, -1, ID, 0x81, 0x80, 0),
	ROW("empty", AT_E_PARSE, -1, 0),
	ROW("no question", AT_E_PARSE, -1, ID, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0),
	ROW("two questions", AT_E_PARSE, -1, ID, 0x81, 0x80, 0, 2, 0, 0, 0, 0, 0, 0, Q, Q),
	ROW("another question", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 1, 'b', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 1),
	ROW("question for type A", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 1, 'a', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1),
	ROW("cut in the question", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 1, 'a', 4, 't', 'e'),
	ROW("cut after the question name", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 1, 'a', 4, 't', 'e', 's', 't', 0, 0,
	    16),
	ROW("cut in the record header", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, PTR_Q, 0, 16, 0, 1, 0),
	ROW("cut in a pointer", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, 0xC0),
	ROW("RDLENGTH past the end", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 9), 3, 'a', 'b', 'c'),
	ROW("string past RDLENGTH", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(16, 3), 5, 'a', 'b', 'c', 'd'),
	ROW("fewer answers than ANCOUNT", AT_E_PARSE, -1, HDR(OK_FLAGS, 2), Q, PTR_Q, RR(16, 4), 3, 'a', 'b', 'c'),
	ROW("pointer to itself", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, 0xC0, 24, RR(16, 4), 3, 'a', 'b', 'c'),
	ROW("pointer forwards", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, 0xC0, 26, RR(16, 4), 3, 'a', 'b', 'c'),
	ROW("pointer past the end", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, 0xFF, 0xFF, RR(16, 4), 3, 'a', 'b', 'c'),
	ROW("question is a pointer to itself", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 0xC0, 12, 0, 16, 0, 1),
	/* Two names pointing at each other: 24 -> 26 is forwards, so refused before any loop. */
	ROW("pointer loop of two", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, 0xC0, 26, 0xC0, 24, RR(16, 4), 3, 'a', 'b',
	    'c'),
	ROW("a label of 64", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 0x40, 'a', 0, 0, 16, 0, 1),
	ROW("extended label type", AT_E_PARSE, -1, HDR(OK_FLAGS, 0), 0x80, 'a', 0, 0, 16, 0, 1),
	ROW("CNAME with a name past its RDLENGTH", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(5, 2), 3, 'a',
	    'b', 'c', 0),
	ROW("CNAME with bytes after its name", AT_E_PARSE, -1, HDR(OK_FLAGS, 1), Q, PTR_Q, RR(5, 3), 0xC0, 12, 0),
	/* A CNAME to itself, nine times: more links than AT_DNS_MAX_CNAMES. */
	ROW("CNAME chain too long", AT_E_PARSE, -1, HDR(OK_FLAGS, 9), Q, PTR_Q, RR(5, 2), PTR_Q, PTR_Q, RR(5, 2),
	    PTR_Q, PTR_Q, RR(5, 2), PTR_Q, PTR_Q, RR(5, 2), PTR_Q, PTR_Q, RR(5, 2), PTR_Q, PTR_Q, RR(5, 2), PTR_Q,
	    PTR_Q, RR(5, 2), PTR_Q, PTR_Q, RR(5, 2), PTR_Q, PTR_Q, RR(5, 2), PTR_Q),
};

static void parser_table(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int found = -1;
		size_t len = strcmp(rows[i].what, "empty") == 0 ? 0 : rows[i].len;
		int rc = at_dns_parse_txt(rows[i].msg, len, 0x1234, "a.test.", "abc", &found);
		if (rc != rows[i].rc || found != rows[i].found) {
			fprintf(stderr, "  row \"%s\": rc %d found %d, expected rc %d found %d\n", rows[i].what, rc,
				found, rows[i].rc, rows[i].found);
			test_failed_now = 1;
		}
	}
}

/* A name over 255 octets in an answer (chained with pointers, each stretch valid on its own). */
static void parser_long_name(void)
{
	unsigned char m[1024];
	size_t off = 0;
	const unsigned char hq[] = { HDR(OK_FLAGS, 1), Q };
	memcpy(m, hq, sizeof(hq));
	off = sizeof(hq);
	size_t prev = 12;
	/* five stretches of one 63-octet label, each pointing at the one before: 5 * 64 > 255 */
	for (int s = 0; s < 5; s++) {
		size_t here = off;
		m[off++] = 63;
		memset(m + off, 'x', 63);
		off += 63;
		m[off++] = (unsigned char)(0xC0 | prev >> 8);
		m[off++] = (unsigned char)prev;
		prev = here;
	}
	size_t owner = prev;
	m[off++] = (unsigned char)(0xC0 | owner >> 8);
	m[off++] = (unsigned char)owner;
	const unsigned char rr[] = { RR(16, 4), 3, 'a', 'b', 'c' };
	memcpy(m + off, rr, sizeof(rr));
	off += sizeof(rr);
	int found = -1;
	CHECK_INT(at_dns_parse_txt(m, off, 0x1234, "a.test", "abc", &found), ==, AT_E_PARSE);
	CHECK_INT(found, ==, -1);
}

static void query_builder(void)
{
	unsigned char q[512];
	size_t len = 0;
	char name[300];

	CHECK_OK(at_dns_build_query(q, sizeof(q), &len, "a.test.", 0x1234, AT_DNS_TYPE_TXT));
	const unsigned char want[] = { 0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, Q };
	CHECK_INT(len, ==, sizeof(want));
	CHECK(memcmp(q, want, sizeof(want)) == 0);
	CHECK_OK(at_dns_build_query(q, sizeof(q), &len, "a.test", 0x1234, AT_DNS_TYPE_TXT));
	CHECK(len == sizeof(want) && memcmp(q, want, sizeof(want)) == 0);

	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, "", 1, 16), ==, AT_E_BADNAME);
	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, ".", 1, 16), ==, AT_E_BADNAME);
	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, "a..test", 1, 16), ==, AT_E_BADNAME);
	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, ".a.test", 1, 16), ==, AT_E_BADNAME);
	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, "a.test..", 1, 16), ==, AT_E_BADNAME);
	memset(name, 'x', 64);
	strcpy(name + 64, ".test");
	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, name, 1, 16), ==, AT_E_BADNAME);
	/* 4 labels of 63 + "a": 4 * 64 + 2 + 1 = 259 octets on the wire */
	for (int i = 0; i < 4; i++) {
		memset(name + i * 64, 'y', 63);
		name[i * 64 + 63] = '.';
	}
	strcpy(name + 256, "a");
	CHECK_INT(at_dns_build_query(q, sizeof(q), &len, name, 1, 16), ==, AT_E_BADNAME);
	CHECK_INT(at_dns_build_query(q, 20, &len, "a.test", 1, 16), ==, AT_E_RANGE);
}

static void resolv_conf(void)
{
	char path[] = "/tmp/at-resolv-XXXXXX", ip[64] = "";
	int fd = mkstemp(path);
	REQUIRE(fd >= 0);
	const char text[] = "# comment\nsearch example.com\nnameserver fe80::1%eth0\nnameserver bogus\n"
			    "  nameserver   192.0.2.53  \nnameserver 192.0.2.54\n";
	CHECK_INT(write(fd, text, sizeof(text) - 1), ==, (long)sizeof(text) - 1);
	close(fd);
	CHECK_OK(at_dns_system_resolver(ip, sizeof(ip), path));
	CHECK_STR(ip, "192.0.2.53");
	CHECK_INT(at_dns_system_resolver(ip, 4, path), ==, AT_E_NOTFOUND); /* does not fit */
	unlink(path);
	CHECK_INT(at_dns_system_resolver(ip, sizeof(ip), path), ==, AT_E_NOTFOUND);
}

/* ---- a local server: UDP answers are truncated (TC), TCP answers carry the TXT record ---- */

struct fake {
	int udp, tcp, port;
	int udp_seen, tcp_seen;
	const char *txt;
};

/* The answer to query q (its header and question copied): TC set and no record, or one TXT record for the
 * question's name (a pointer to it) holding txt as one string. */
static void answer(struct dns_msg *r, const unsigned char *q, size_t qlen, int tc, const char *txt)
{
	size_t n = strlen(txt);

	r->n = 0;
	dns_msg_put(r, q, qlen);
	r->b[2] = (unsigned char)(0x81 | (tc ? 0x02 : 0));
	r->b[3] = 0x80;
	if (tc)
		return;
	r->b[7] = 1;
	dns_msg_u16(r, 0xC000 | 12);
	dns_msg_u16(r, 16);
	dns_msg_u16(r, 1);
	dns_msg_u32(r, 60);
	dns_msg_u16(r, (unsigned)n + 1);
	dns_msg_u8(r, (unsigned)n);
	dns_msg_put(r, txt, n);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	unsigned char q[512];
	struct dns_msg r;
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(f->udp, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	if (n < 12)
		return NULL;
	f->udp_seen++;
	/* First an answer with another id, which the client must ignore, then the truncated one. */
	answer(&r, q, (size_t)n, 1, f->txt);
	r.b[1] ^= 0xFF;
	sendto(f->udp, r.b, r.n, 0, (struct sockaddr *)&from, fl);
	r.b[1] ^= 0xFF;
	sendto(f->udp, r.b, r.n, 0, (struct sockaddr *)&from, fl);
	int c = accept(f->tcp, NULL, NULL);
	if (c < 0)
		return NULL;
	unsigned char lb[2];
	if (recv(c, lb, 2, MSG_WAITALL) == 2) {
		size_t ql = (size_t)(lb[0] << 8 | lb[1]);
		if (ql <= sizeof(q) && recv(c, q, ql, MSG_WAITALL) == (ssize_t)ql) {
			f->tcp_seen++;
			answer(&r, q, ql, 0, f->txt);
			/* Over TCP the message goes behind its 16-bit length (RFC 1035 section 4.2.2). */
			struct dns_msg framed = { .n = 0 };
			dns_msg_u16(&framed, (unsigned)r.n);
			dns_msg_put(&framed, r.b, r.n);
			send(c, framed.b, framed.n, 0);
		}
	}
	close(c);
	return NULL;
}

static void tcp_fallback(void)
{
	struct fake f = { .txt = "v-123" };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int one = 1;

	f.tcp = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(f.tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	REQUIRE(bind(f.tcp, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(f.tcp, 4) == 0);
	REQUIRE(getsockname(f.tcp, (struct sockaddr *)&sa, &sl) == 0);
	f.udp = socket(AF_INET, SOCK_DGRAM, 0);
	REQUIRE(bind(f.udp, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	f.port = ntohs(sa.sin_port);

	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, fake_main, &f) == 0);
	int found = -1;
	CHECK_OK(at_dns_txt_has("127.0.0.1", f.port, "_acme-challenge.a.test", "v-123", 3000, &found));
	CHECK_INT(found, ==, 1);
	pthread_join(t, NULL);
	CHECK_INT(f.udp_seen, ==, 1);
	CHECK_INT(f.tcp_seen, ==, 1);

	/* Nothing answers: a timeout within the bound (or a refusal), never a hang. */
	close(f.tcp);
	found = -1;
	int rc = at_dns_txt_has("127.0.0.1", f.port, "a.test", "x", 300, &found);
	CHECK(rc == AT_E_TIMEOUT || rc == AT_E_NET);
	CHECK_INT(found, ==, -1);
	close(f.udp);

	CHECK_INT(at_dns_txt_has("not-an-ip", 53, "a.test", "x", 100, &found), ==, AT_E_INVAL);
	CHECK_INT(at_dns_txt_has("127.0.0.1", 0, "a.test", "x", 100, &found), ==, AT_E_INVAL);
	CHECK_INT(at_dns_txt_has("127.0.0.1", 53, "a..test", "x", 100, &found), ==, AT_E_BADNAME);
}

int main(void)
{
	RUN(parser_table);
	RUN(parser_long_name);
	RUN(query_builder);
	RUN(resolv_conf);
	RUN(tcp_fallback);
	return TEST_EXIT();
}
