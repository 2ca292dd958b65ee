/*
 * The parsers behind util/dns_auth.h: the zone from an SOA answer, the NS set with its additional addresses, and
 * A/AAAA answers. Message format: RFC 1035 section 4.1; every record is read with at_dns_read_rr, which checks
 * each length against the message before it is used.
 */
#include "util/dns_auth.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <string.h>

#define CLASS_IN 1
#define RCODE_NXDOMAIN 3

int at_dns_auth_host_ok(const char *name)
{
	size_t label = 0;

	if (name[0] == '\0')
		return 0;
	for (const char *p = name; *p != '\0'; p++) {
		char c = *p;
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		label++;
	}
	return label > 0;
}

/* zone is name itself or one of its ancestors, and not the root. Both lower case, no final dot. */
static int zone_holds(const char *zone, const char *name)
{
	size_t z = strlen(zone), n = strlen(name);
	if (z == 0 || z > n || strcmp(name + (n - z), zone) != 0)
		return 0;
	return z == n || name[n - z - 1] == '.';
}

/*
 * Reads the answer section from h->off: CNAME links from target move target along (at most AT_DNS_MAX_CNAMES);
 * *off ends after the section. For each other record of class IN, calls each(msg, rr, target, arg); each
 * returns 0 or an error that stops the walk.
 */
static int walk_answer(const unsigned char *msg, size_t len, const struct at_dns_head *h, size_t *off, char *target,
		       int (*each)(const unsigned char *, const struct at_dns_rr *, const char *, void *), void *arg)
{
	struct at_dns_rr rr;
	int links = 0, rc;

	*off = h->off;
	for (unsigned i = 0; i < h->an; i++) {
		if (at_dns_read_rr(msg, len, off, &rr) != 0)
			return AT_E_PARSE;
		if (rr.klass != CLASS_IN)
			continue;
		if (rr.type == AT_DNS_TYPE_CNAME && strcmp(rr.owner, target) == 0) {
			if (++links > AT_DNS_MAX_CNAMES || at_dns_read_rdata_name(msg, &rr, target) != 0)
				return AT_E_PARSE;
			continue;
		}
		if ((rc = each(msg, &rr, target, arg)) != 0)
			return rc;
	}
	return 0;
}

/* An SOA record of the answer section owned by the chain's end names the zone. */
static int zone_in_answer(const unsigned char *msg, const struct at_dns_rr *rr, const char *target, void *arg)
{
	char *zone = arg;
	if (rr->type != AT_DNS_TYPE_SOA)
		return 0;
	if (!at_dns_soa_ok(msg, rr->rdoff, rr->rdlen))
		return AT_E_PARSE;
	if (zone[0] == '\0' && strcmp(rr->owner, target) == 0)
		memcpy(zone, rr->owner, AT_DNS_NAME_TEXT);
	return 0;
}

int at_dns_parse_zone(const unsigned char *msg, size_t len, uint16_t id, const char *name, char *target,
		      char *zone)
{
	char t[AT_DNS_NAME_TEXT], z[AT_DNS_NAME_TEXT] = "";
	struct at_dns_head h;
	struct at_dns_rr rr;
	size_t off;
	int rc = at_dns_read_head(msg, len, id, name, AT_DNS_TYPE_SOA, &h);

	if (rc != 0)
		return rc;
	if (h.rcode != 0 && h.rcode != RCODE_NXDOMAIN)
		return AT_E_NET;
	memcpy(t, h.qname, sizeof(t));
	rc = walk_answer(msg, len, &h, &off, t, zone_in_answer, z);
	if (rc != 0)
		return rc;
	if (!at_dns_auth_host_ok(t))
		return AT_E_PARSE; /* a CNAME to the root or to a name no query can carry */
	/* RFC 2308 sections 2.1 and 2.2: a negative answer carries the zone's SOA in the authority section. */
	for (unsigned i = 0; i < h.ns; i++) {
		if (at_dns_read_rr(msg, len, &off, &rr) != 0)
			return AT_E_PARSE;
		if (rr.klass != CLASS_IN || rr.type != AT_DNS_TYPE_SOA)
			continue;
		if (!at_dns_soa_ok(msg, rr.rdoff, rr.rdlen))
			return AT_E_PARSE;
		if (z[0] == '\0' && zone_holds(rr.owner, t))
			memcpy(z, rr.owner, sizeof(z));
	}
	memcpy(target, t, sizeof(t));
	memcpy(zone, z, sizeof(z));
	return 0;
}

/* An address worth a query: not unspecified, "this network", multicast, broadcast or reserved (IPv4), nor
 * unspecified, multicast, link-local (which needs an interface) or IPv4-mapped (IPv6). */
static int addr_usable(unsigned type, const unsigned char *a)
{
	static const unsigned char zero[16], mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	if (type == AT_DNS_TYPE_A)
		return a[0] != 0 && a[0] < 224;
	if (memcmp(a, zero, 16) == 0 || a[0] == 0xFF || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80))
		return 0;
	return memcmp(a, mapped, sizeof(mapped)) != 0;
}

/* Adds the address in rr (an A or AAAA record) for server. 0, AT_E_PARSE for a wrong RDLENGTH. */
static int add_addr(struct at_dns_auth *out, const unsigned char *msg, const struct at_dns_rr *rr, size_t server)
{
	char ip[AT_DNS_AUTH_IP_TEXT];
	size_t want = rr->type == AT_DNS_TYPE_A ? 4 : 16;

	if (rr->rdlen != want)
		return AT_E_PARSE;
	if (!addr_usable(rr->type, msg + rr->rdoff) || out->naddr >= AT_DNS_AUTH_MAX_ADDRS)
		return 0;
	if (inet_ntop(want == 4 ? AF_INET : AF_INET6, msg + rr->rdoff, ip, sizeof(ip)) == NULL)
		return AT_E_PARSE;
	for (size_t i = 0; i < out->naddr; i++)
		if (strcmp(out->addr[i].ip, ip) == 0)
			return 0;
	memcpy(out->addr[out->naddr].ip, ip, sizeof(ip));
	out->addr[out->naddr].server = server;
	out->naddr++;
	return 0;
}

/* An NS record owned by the zone (or by the end of a CNAME chain from it, as the resolver answered) adds its
 * name (once, while there is room). */
static int ns_in_answer(const unsigned char *msg, const struct at_dns_rr *rr, const char *zone, void *arg)
{
	struct at_dns_auth *out = arg;
	char host[AT_DNS_NAME_TEXT];

	if (rr->type != AT_DNS_TYPE_NS || strcmp(rr->owner, zone) != 0)
		return 0;
	if (at_dns_read_rdata_name(msg, rr, host) != 0)
		return AT_E_PARSE;
	if (!at_dns_auth_host_ok(host) || out->nns >= AT_DNS_AUTH_MAX_SERVERS)
		return 0;
	for (size_t i = 0; i < out->nns; i++)
		if (strcmp(out->ns[i], host) == 0)
			return 0;
	memcpy(out->ns[out->nns++], host, sizeof(host));
	return 0;
}

int at_dns_parse_ns(const unsigned char *msg, size_t len, uint16_t id, const char *zone, struct at_dns_auth *out)
{
	char owner[AT_DNS_NAME_TEXT];
	struct at_dns_auth got;
	struct at_dns_head h;
	struct at_dns_rr rr;
	size_t off;
	int rc = at_dns_read_head(msg, len, id, zone, AT_DNS_TYPE_NS, &h);

	if (rc != 0)
		return rc;
	if (h.rcode == RCODE_NXDOMAIN)
		return AT_E_NOTFOUND;
	if (h.rcode != 0)
		return AT_E_NET;
	/* Built apart and copied at the end: *out is untouched on an error. */
	got.nns = got.naddr = 0;
	memcpy(owner, h.qname, sizeof(owner));
	rc = walk_answer(msg, len, &h, &off, owner, ns_in_answer, &got);
	for (unsigned i = 0; rc == 0 && i < h.ns; i++)
		rc = at_dns_read_rr(msg, len, &off, &rr);
	for (unsigned i = 0; rc == 0 && i < h.ar; i++) {
		rc = at_dns_read_rr(msg, len, &off, &rr);
		if (rc != 0 || rr.klass != CLASS_IN || (rr.type != AT_DNS_TYPE_A && rr.type != AT_DNS_TYPE_AAAA))
			continue; /* OPT (RFC 6891) and anything else in the additional section: not ours */
		for (size_t s = 0; s < got.nns; s++)
			if (strcmp(rr.owner, got.ns[s]) == 0) {
				rc = add_addr(&got, msg, &rr, s);
				break;
			}
	}
	if (rc != 0)
		return rc;
	memcpy(out->ns, got.ns, sizeof(out->ns));
	out->nns = got.nns;
	memcpy(out->addr, got.addr, sizeof(out->addr));
	out->naddr = got.naddr;
	return 0;
}

struct addr_walk {
	struct at_dns_auth *out;
	unsigned qtype;
	size_t server;
};

static int addr_in_answer(const unsigned char *msg, const struct at_dns_rr *rr, const char *target, void *arg)
{
	struct addr_walk *w = arg;
	if (rr->type != w->qtype || strcmp(rr->owner, target) != 0)
		return 0;
	return add_addr(w->out, msg, rr, w->server);
}

int at_dns_parse_addrs(const unsigned char *msg, size_t len, uint16_t id, const char *host, unsigned qtype,
		       size_t server, struct at_dns_auth *out)
{
	char target[AT_DNS_NAME_TEXT];
	struct at_dns_head h;
	size_t off, before = out->naddr;

	if (qtype != AT_DNS_TYPE_A && qtype != AT_DNS_TYPE_AAAA)
		return AT_E_INVAL;
	int rc = at_dns_read_head(msg, len, id, host, qtype, &h);
	if (rc != 0)
		return rc;
	if (h.rcode == RCODE_NXDOMAIN)
		return 0;
	if (h.rcode != 0)
		return AT_E_NET;
	memcpy(target, h.qname, sizeof(target));
	struct addr_walk w = { .out = out, .qtype = qtype, .server = server };
	rc = walk_answer(msg, len, &h, &off, target, addr_in_answer, &w);
	if (rc != 0)
		out->naddr = before;
	return rc;
}
