/*
 * The parsers behind dns/auth.h: the NS set with its additional addresses, and A/AAAA answers. Message format:
 * RFC 1035 section 4.1; every record is read with dns/wire.h's at_dns_read_rr, which checks each length against
 * the message before it is used.
 */
#include "dns/auth.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <string.h>

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
	if (!at_dns_host_ok(host) || out->nns >= AT_DNS_AUTH_MAX_SERVERS)
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
	int rc = at_dns_read_answer(msg, len, id, zone, AT_DNS_TYPE_NS, &h, owner);

	if (rc != 0)
		return rc;
	if (h.rcode == AT_DNS_RCODE_NXDOMAIN)
		return AT_E_NOTFOUND;
	/* Built apart and copied at the end: *out is untouched on an error. */
	got.nns = got.naddr = 0;
	rc = at_dns_walk_answer(msg, len, &h, &off, owner, ns_in_answer, &got);
	for (unsigned i = 0; rc == 0 && i < h.ns; i++)
		rc = at_dns_read_rr(msg, len, &off, &rr);
	for (unsigned i = 0; rc == 0 && i < h.ar; i++) {
		rc = at_dns_read_rr(msg, len, &off, &rr);
		if (rc != 0 || rr.klass != AT_DNS_CLASS_IN || (rr.type != AT_DNS_TYPE_A && rr.type != AT_DNS_TYPE_AAAA))
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
	int rc = at_dns_read_answer(msg, len, id, host, qtype, &h, target);
	if (rc != 0 || h.rcode == AT_DNS_RCODE_NXDOMAIN)
		return rc;
	struct addr_walk w = { .out = out, .qtype = qtype, .server = server };
	rc = at_dns_walk_answer(msg, len, &h, &off, target, addr_in_answer, &w);
	if (rc != 0)
		out->naddr = before;
	return rc;
}
