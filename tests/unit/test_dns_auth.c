/*
 * The authoritative-server parsers (dns/auth_parse.c, dns/zone.c) from answers built by hand: the zone from an
 * SOA answer (apex, NODATA and NXDOMAIN with the SOA in the authority section, a CNAME to another zone, an SOA that
 * does not hold the name), the NS set with its glue, and A/AAAA answers; the caps (servers, addresses), names
 * and addresses left out; and hostile input: every cut of each good answer, pointer loops, counts past the end,
 * wrong RDATA lengths. Then at_dns_auth_txt against a scripted local server: RD clear on the wire, AA required.
 */
#include "tests/harness/dns_msg.h"
#include "tests/test.h"
#include "dns/auth.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ID 0x1234
#define OK 0x8180   /* QR RD RA, NOERROR */
#define AA 0x8580   /* QR AA RD RA */
#define NXD 0x8183

/* ---- the answers, written with the harness's DNS message writer (names in full) ---- */

/* The header and the question (class IN) of an answer to id ID. */
static void head(struct dns_msg *m, unsigned flags, unsigned an, unsigned ns, unsigned ar, const char *q,
		 unsigned qtype)
{
	dns_msg_header(m, ID, flags, 1, an, ns, ar);
	dns_msg_question(m, q, qtype, 1);
}

/* A record of class IN with a TTL of 60. */
static void rr(struct dns_msg *m, const char *owner, unsigned type, const void *rd, size_t rdlen)
{
	dns_msg_rr(m, owner, type, 1, 60, rd, rdlen);
}

static void rr_name(struct dns_msg *m, const char *owner, unsigned type, const char *target)
{
	struct dns_msg rd = { .n = 0 };
	dns_msg_name(&rd, target);
	rr(m, owner, type, rd.b, rd.n);
}

static void rr_soa(struct dns_msg *m, const char *owner)
{
	struct dns_msg rd = { .n = 0 };
	dns_msg_name(&rd, "ns1.a.test");
	dns_msg_name(&rd, "hostmaster.a.test");
	for (int i = 0; i < 20; i++)
		dns_msg_u8(&rd, (unsigned)i);
	rr(m, owner, AT_DNS_TYPE_SOA, rd.b, rd.n);
}

static void rr_ip(struct dns_msg *m, const char *owner, const char *ip)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, ip, a) == 1)
		rr(m, owner, AT_DNS_TYPE_A, a, 4);
	else if (inet_pton(AF_INET6, ip, a) == 1)
		rr(m, owner, AT_DNS_TYPE_AAAA, a, 16);
}

/* Every strict prefix of a good answer is refused (the counts promise more than is there), never read past. */
static int every_cut_refused(const struct dns_msg *m, int (*parse)(const unsigned char *, size_t))
{
	for (size_t len = 0; len < m->n; len++) {
		unsigned char *copy = malloc(len ? len : 1); /* exactly len bytes: ASan sees any read past them */
		memcpy(copy, m->b, len);
		int rc = parse(copy, len);
		free(copy);
		if (rc != AT_E_PARSE) {
			fprintf(stderr, "  cut at %zu of %zu: rc %d\n", len, m->n, rc);
			return 0;
		}
	}
	return 1;
}

/* ---- the zone ---- */

static int zone_of(const struct dns_msg *m, char *target, char *zone)
{
	strcpy(target, "-");
	strcpy(zone, "-");
	return at_dns_parse_zone(m->b, m->n, ID, "x.a.test", target, zone);
}

/* The answer in m reads as zone (and the name to ask for as target); reports the row's name when it does not. */
static void zone_is(const char *what, const struct dns_msg *m, const char *zone, const char *target)
{
	char t[AT_DNS_NAME_TEXT], z[AT_DNS_NAME_TEXT];
	int rc = zone_of(m, t, z);
	if (rc != 0 || strcmp(z, zone) != 0 || strcmp(t, target) != 0) {
		fprintf(stderr, "  %s: rc %d zone \"%s\" target \"%s\"\n", what, rc, z, t);
		test_failed_now = 1;
	}
}

static void zone_answers(void)
{
	struct dns_msg m;
	char t[AT_DNS_NAME_TEXT], z[AT_DNS_NAME_TEXT];

	head(&m, OK, 1, 0, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_soa(&m, "x.a.test");
	zone_is("an apex", &m, "x.a.test", "x.a.test");

	head(&m, OK, 0, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_soa(&m, "a.test");
	zone_is("RFC 2308 section 2.2, NODATA: the SOA in the authority section", &m, "a.test", "x.a.test");

	head(&m, NXD, 0, 1, 0, "X.A.TEST.", AT_DNS_TYPE_SOA);
	rr_soa(&m, "A.Test");
	zone_is("section 2.1, NXDOMAIN, in upper case", &m, "a.test", "x.a.test");

	head(&m, OK, 2, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_name(&m, "x.a.test", AT_DNS_TYPE_CNAME, "c.other.test");
	rr_name(&m, "c.other.test", AT_DNS_TYPE_CNAME, "y.b.test");
	rr_soa(&m, "b.test");
	zone_is("a CNAME chain to another zone: that zone, asked for the chain's end", &m, "b.test", "y.b.test");

	/* SOAs that do not hold the name: a sibling, a child, the root, a longer label, a suffix that is not a
	 * label; then an SOA in the answer for another owner, and a referral (NS, no SOA). */
	const char *others[] = { "b.a.test", "y.x.a.test", "", "xx.a.test", "est" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		head(&m, OK, 0, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
		rr_soa(&m, others[i]);
		zone_is(others[i], &m, "", "x.a.test");
	}
	head(&m, OK, 1, 0, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_soa(&m, "a.test");
	zone_is("SOA of the parent in the answer", &m, "", "x.a.test");
	head(&m, OK, 0, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_name(&m, "x.a.test", AT_DNS_TYPE_NS, "ns.elsewhere.test");
	zone_is("a referral", &m, "", "x.a.test");

	head(&m, 0x8182, 0, 0, 0, "x.a.test", AT_DNS_TYPE_SOA);
	CHECK_INT(zone_of(&m, t, z), ==, AT_E_NET);
	CHECK_STR(z, "-"); /* untouched on an error */
	head(&m, 0x8380, 0, 0, 0, "x.a.test", AT_DNS_TYPE_SOA);
	CHECK_INT(zone_of(&m, t, z), ==, AT_E_TOOBIG);
	head(&m, OK, 0, 0, 0, "x.a.test", AT_DNS_TYPE_NS);
	CHECK_INT(zone_of(&m, t, z), ==, AT_E_PARSE); /* the answer to another question */
}

static int zone_parse(const unsigned char *b, size_t n)
{
	char t[AT_DNS_NAME_TEXT], z[AT_DNS_NAME_TEXT];
	return at_dns_parse_zone(b, n, ID, "x.a.test", t, z);
}

static void zone_hostile(void)
{
	struct dns_msg m;
	head(&m, OK, 2, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_name(&m, "x.a.test", AT_DNS_TYPE_CNAME, "y.b.test");
	rr_soa(&m, "y.b.test");
	rr_soa(&m, "b.test");
	CHECK(every_cut_refused(&m, zone_parse));

	/* The SOA's RDATA: one byte short of the five numbers. */
	head(&m, OK, 0, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_soa(&m, "a.test");
	size_t rdlen_at = m.n - 51 - 2; /* the RDATA: 12 + 19 bytes of names, 20 of numbers */
	CHECK_INT(m.b[rdlen_at + 1], ==, 51);
	m.b[rdlen_at + 1] = 50;
	m.n--;
	CHECK_INT(zone_parse(m.b, m.n), ==, AT_E_PARSE);

	/* Authority count of 65535 with one record there. */
	head(&m, OK, 0, 0xFFFF, 0, "x.a.test", AT_DNS_TYPE_SOA);
	rr_soa(&m, "a.test");
	CHECK_INT(zone_parse(m.b, m.n), ==, AT_E_PARSE);

	/* An authority owner that points at itself, and one that points forwards. */
	for (int fwd = 0; fwd < 2; fwd++) {
		head(&m, OK, 0, 1, 0, "x.a.test", AT_DNS_TYPE_SOA);
		size_t at = m.n;
		rr_soa(&m, "a.test");
		m.b[at] = 0xC0;
		m.b[at + 1] = (unsigned char)(at + (size_t)fwd * 2);
		CHECK_INT(zone_parse(m.b, m.n), ==, AT_E_PARSE);
	}

	/* A CNAME to the root (found by the fuzzer), and one to a name that is not a host name. */
	const char *bad_ends[] = { "", "a b.test" };
	for (size_t i = 0; i < sizeof(bad_ends) / sizeof(bad_ends[0]); i++) {
		head(&m, OK, 1, 0, 0, "x.a.test", AT_DNS_TYPE_SOA);
		rr_name(&m, "x.a.test", AT_DNS_TYPE_CNAME, bad_ends[i]);
		CHECK_INT(zone_parse(m.b, m.n), ==, AT_E_PARSE);
	}

	/* Nine CNAME links, one more than AT_DNS_MAX_CNAMES. */
	head(&m, OK, 9, 0, 0, "x.a.test", AT_DNS_TYPE_SOA);
	for (int i = 0; i < 9; i++)
		rr_name(&m, "x.a.test", AT_DNS_TYPE_CNAME, "x.a.test");
	CHECK_INT(zone_parse(m.b, m.n), ==, AT_E_PARSE);
}

/* ---- the NS set ---- */

static struct at_dns_auth got;

static int ns_parse(const unsigned char *b, size_t n)
{
	return at_dns_parse_ns(b, n, ID, "a.test", &got);
}

static void ns_with_glue(void)
{
	struct dns_msg m;
	head(&m, AA, 3, 0, 5, "a.test", AT_DNS_TYPE_NS);
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "ns1.a.test");
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "NS2.Provider.Test.");
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "ns1.a.test"); /* again */
	rr_ip(&m, "ns1.a.test", "192.0.2.1");
	rr_ip(&m, "ns1.a.test", "2001:db8::1");
	rr_ip(&m, "ns1.a.test", "192.0.2.1"); /* again */
	rr_ip(&m, "other.test", "192.0.2.9"); /* not one of the servers */
	/* An OPT record (RFC 6891): root owner, type 41, class = payload size. */
	const unsigned char opt[] = { 0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0 };
	dns_msg_put(&m, opt, sizeof(opt));

	memset(&got, 0, sizeof(got));
	strcpy(got.zone, "kept");
	CHECK_OK(ns_parse(m.b, m.n));
	CHECK_INT(got.nns, ==, 2);
	CHECK_STR(got.ns[0], "ns1.a.test");
	CHECK_STR(got.ns[1], "ns2.provider.test");
	CHECK_INT(got.naddr, ==, 2);
	CHECK_STR(got.addr[0].ip, "192.0.2.1");
	CHECK_STR(got.addr[1].ip, "2001:db8::1");
	CHECK_INT(got.addr[0].server, ==, 0);
	CHECK_STR(got.zone, "kept");
	CHECK(every_cut_refused(&m, ns_parse));

	/* NXDOMAIN, an error, no NS at all. */
	head(&m, NXD, 0, 0, 0, "a.test", AT_DNS_TYPE_NS);
	CHECK_INT(ns_parse(m.b, m.n), ==, AT_E_NOTFOUND);
	head(&m, 0x8185, 0, 0, 0, "a.test", AT_DNS_TYPE_NS);
	CHECK_INT(ns_parse(m.b, m.n), ==, AT_E_NET);
	head(&m, OK, 0, 0, 0, "a.test", AT_DNS_TYPE_NS);
	CHECK_OK(ns_parse(m.b, m.n));
	CHECK_INT(got.nns, ==, 0);
}

static void ns_caps_and_refusals(void)
{
	struct dns_msg m;
	char host[64], ip[64];

	/* Twelve servers, two addresses each: eight servers and sixteen addresses kept. */
	head(&m, OK, 12, 0, 24, "a.test", AT_DNS_TYPE_NS);
	for (int i = 0; i < 12; i++) {
		snprintf(host, sizeof(host), "ns%d.a.test", i);
		rr_name(&m, "a.test", AT_DNS_TYPE_NS, host);
	}
	for (int i = 0; i < 12; i++) {
		snprintf(host, sizeof(host), "ns%d.a.test", i);
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		rr_ip(&m, host, ip);
		snprintf(ip, sizeof(ip), "2001:db8::%d", i + 1);
		rr_ip(&m, host, ip);
	}
	CHECK_OK(ns_parse(m.b, m.n));
	CHECK_INT(got.nns, ==, AT_DNS_AUTH_MAX_SERVERS);
	CHECK_INT(got.naddr, ==, AT_DNS_AUTH_MAX_ADDRS);
	CHECK_STR(got.ns[7], "ns7.a.test");
	CHECK_INT(got.addr[15].server, ==, 7);

	/* Names that are not host names, and addresses no query can go to, are left out. */
	head(&m, OK, 3, 0, 8, "a.test", AT_DNS_TYPE_NS);
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "bad name.a.test");
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "");
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "ns.a.test");
	const char *bad[] = { "0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "fe80::1", "ff02::1", "::ffff:192.0.2.1",
			      "127.0.0.1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rr_ip(&m, "ns.a.test", bad[i]);
	CHECK_OK(ns_parse(m.b, m.n));
	CHECK_INT(got.nns, ==, 1);
	CHECK_INT(got.naddr, ==, 1); /* loopback is allowed: tests use it */
	CHECK_STR(got.addr[0].ip, "127.0.0.1");

	/* Hostile: an A record of five bytes, an NS name past its RDATA, a compression loop in an NS name. The
	 * earlier result stays as it was. */
	head(&m, OK, 1, 0, 1, "a.test", AT_DNS_TYPE_NS);
	rr_name(&m, "a.test", AT_DNS_TYPE_NS, "ns.a.test");
	const unsigned char five[] = { 127, 0, 0, 2, 9 };
	rr(&m, "ns.a.test", AT_DNS_TYPE_A, five, sizeof(five));
	CHECK_INT(ns_parse(m.b, m.n), ==, AT_E_PARSE);
	CHECK_STR(got.addr[0].ip, "127.0.0.1");

	head(&m, OK, 1, 0, 0, "a.test", AT_DNS_TYPE_NS);
	const unsigned char ns_long[] = { 0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 2, 3, 'n', 's', 0 };
	dns_msg_put(&m, ns_long, sizeof(ns_long));
	CHECK_INT(ns_parse(m.b, m.n), ==, AT_E_PARSE);

	head(&m, OK, 1, 0, 0, "a.test", AT_DNS_TYPE_NS);
	size_t rd = m.n + 12;
	const unsigned char ns_loop[] = { 0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, (unsigned char)rd };
	dns_msg_put(&m, ns_loop, sizeof(ns_loop));
	CHECK_INT(ns_parse(m.b, m.n), ==, AT_E_PARSE);
}

/* ---- addresses of one server ---- */

static void addr_answers(void)
{
	struct dns_msg m;
	memset(&got, 0, sizeof(got));
	strcpy(got.ns[0], "ns.b.test");
	got.nns = 1;

	head(&m, OK, 4, 0, 0, "ns.b.test", AT_DNS_TYPE_A);
	rr_name(&m, "ns.b.test", AT_DNS_TYPE_CNAME, "host.c.test");
	rr_ip(&m, "host.c.test", "192.0.2.7");
	rr_ip(&m, "ns.b.test", "192.0.2.8");   /* the alias's own: not at the chain's end */
	rr_ip(&m, "host.c.test", "2001:db8::7"); /* AAAA in an A answer: not asked for */
	CHECK_OK(at_dns_parse_addrs(m.b, m.n, ID, "ns.b.test", AT_DNS_TYPE_A, 0, &got));
	CHECK_INT(got.naddr, ==, 1);
	CHECK_STR(got.addr[0].ip, "192.0.2.7");

	head(&m, NXD, 0, 0, 0, "ns.b.test", AT_DNS_TYPE_AAAA);
	CHECK_OK(at_dns_parse_addrs(m.b, m.n, ID, "ns.b.test", AT_DNS_TYPE_AAAA, 0, &got));
	CHECK_INT(got.naddr, ==, 1);

	/* A good address then a bad AAAA: the error leaves the list as it was. */
	head(&m, OK, 2, 0, 0, "ns.b.test", AT_DNS_TYPE_AAAA);
	rr_ip(&m, "ns.b.test", "2001:db8::9");
	const unsigned char four[] = { 1, 2, 3, 4 };
	rr(&m, "ns.b.test", AT_DNS_TYPE_AAAA, four, sizeof(four));
	CHECK_INT(at_dns_parse_addrs(m.b, m.n, ID, "ns.b.test", AT_DNS_TYPE_AAAA, 0, &got), ==, AT_E_PARSE);
	CHECK_INT(got.naddr, ==, 1);
	CHECK_INT(at_dns_parse_addrs(m.b, m.n, ID, "ns.b.test", AT_DNS_TYPE_TXT, 0, &got), ==, AT_E_INVAL);
}

static void host_names(void)
{
	CHECK(at_dns_host_ok("ns1.example.test"));
	CHECK(at_dns_host_ok("a"));
	CHECK(at_dns_host_ok("_x-y.0"));
	CHECK(!at_dns_host_ok(""));
	CHECK(!at_dns_host_ok("a..b"));
	CHECK(!at_dns_host_ok(".a"));
	CHECK(!at_dns_host_ok("a."));
	CHECK(!at_dns_host_ok("a b"));
	CHECK(!at_dns_host_ok("A.test")); /* names are read as lower case */
	CHECK(!at_dns_host_ok("a\x01.test"));
}

/* ---- at_dns_auth_txt against a scripted server on loopback ---- */

struct scripted {
	int fd;
	unsigned flags[3]; /* the answers' flags, one query each */
	int rd_seen[3];
};

static void *scripted_main(void *arg)
{
	struct scripted *s = arg;
	for (int i = 0; i < 3; i++) {
		unsigned char q[512];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		if (n < 12)
			return NULL;
		s->rd_seen[i] = q[2] & 0x01;
		struct dns_msg m;
		head(&m, s->flags[i], 1, 0, 0, "_acme-challenge.a.test", AT_DNS_TYPE_TXT);
		m.b[0] = q[0];
		m.b[1] = q[1];
		const unsigned char txt[] = { 3, 'a', 'b', 'c' };
		rr(&m, "_acme-challenge.a.test", AT_DNS_TYPE_TXT, txt, sizeof(txt));
		sendto(s->fd, m.b, m.n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void txt_at_authoritative(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct scripted s = { .flags = { 0x8400, 0x8000, 0x8405 } }; /* AA; no AA; AA with REFUSED */
	enum at_dns_auth_answer ans = 0;
	unsigned rcode = 99;

	s.fd = socket(AF_INET, SOCK_DGRAM, 0);
	REQUIRE(bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	REQUIRE(getsockname(s.fd, (struct sockaddr *)&sa, &sl) == 0);
	int port = ntohs(sa.sin_port);
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, scripted_main, &s) == 0);
	CHECK_OK(at_dns_auth_txt("127.0.0.1", port, "_acme-challenge.a.test", "abc", 1, 2000, &ans, &rcode));
	CHECK_INT(ans, ==, AT_DNS_AUTH_SHOWS);
	CHECK_INT(rcode, ==, 0);
	CHECK_OK(at_dns_auth_txt("127.0.0.1", port, "_acme-challenge.a.test", "abc", 1, 2000, &ans, &rcode));
	CHECK_INT(ans, ==, AT_DNS_AUTH_NOT_AUTH);
	CHECK_OK(at_dns_auth_txt("127.0.0.1", port, "_acme-challenge.a.test", "abc", 0, 2000, &ans, &rcode));
	CHECK_INT(ans, ==, AT_DNS_AUTH_RCODE);
	CHECK_INT(rcode, ==, 5);
	pthread_join(t, NULL);
	/* RD clear for the authoritative server (RFC 1035 section 4.1.1), set for a resolver. */
	CHECK_INT(s.rd_seen[0], ==, 0);
	CHECK_INT(s.rd_seen[1], ==, 0);
	CHECK_INT(s.rd_seen[2], ==, 1);
	/* Nobody answers now (the socket stays bound, so no other process can take the port): a timeout within the
	 * bound. */
	int rc = at_dns_auth_txt("127.0.0.1", port, "_acme-challenge.a.test", "abc", 1, 300, &ans, &rcode);
	CHECK_INT(rc, ==, AT_E_TIMEOUT);
	close(s.fd);
	/* Nothing bound there now: the refusal is no answer, not an answer with an error RCODE. */
	ans = 0;
	rc = at_dns_auth_txt("127.0.0.1", port, "_acme-challenge.a.test", "abc", 1, 300, &ans, &rcode);
	CHECK(rc == AT_E_NET || rc == AT_E_TIMEOUT);
	CHECK_INT(ans, ==, 0);
}

int main(void)
{
	RUN(zone_answers);
	RUN(zone_hostile);
	RUN(ns_with_glue);
	RUN(ns_caps_and_refusals);
	RUN(addr_answers);
	RUN(host_names);
	RUN(txt_at_authoritative);
	return TEST_EXIT();
}
