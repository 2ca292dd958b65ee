/*
 * The zone that holds a name (see zone.h): the parser of an SOA answer and the search up the tree. One finder
 * for both callers; alias_end says whether a CNAME chain from the name leads the way (the wait at the
 * authoritative servers) or only the name itself counts (the RFC 2136 update).
 */
#include "dns/zone.h"
#include "dns/transport.h"
#include "util/clock.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

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
	/* NXDOMAIN: still an answer, whose authority section names the zone */
	int rc = at_dns_read_answer(msg, len, id, name, AT_DNS_TYPE_SOA, &h, t);

	if (rc == 0)
		rc = at_dns_walk_answer(msg, len, &h, &off, t, zone_in_answer, z);
	if (rc != 0)
		return rc;
	if (!at_dns_host_ok(t))
		return AT_E_PARSE; /* a CNAME to the root or to a name no query can carry */
	/* RFC 2308 sections 2.1 and 2.2: a negative answer carries the zone's SOA in the authority section. */
	for (unsigned i = 0; i < h.ns; i++) {
		if (at_dns_read_rr(msg, len, &off, &rr) != 0)
			return AT_E_PARSE;
		if (rr.klass != AT_DNS_CLASS_IN || rr.type != AT_DNS_TYPE_SOA)
			continue;
		if (!at_dns_soa_ok(msg, rr.rdoff, rr.rdlen))
			return AT_E_PARSE;
		/* The owner as written must be t or an ancestor: t is a host name, and so must the owner be, or a
		 * label ending in a '.' byte would pass for the final dot that at_dns_in_zone leaves aside. */
		if (z[0] == '\0' && at_dns_host_ok(rr.owner) && at_dns_in_zone(t, rr.owner))
			memcpy(z, rr.owner, sizeof(z));
	}
	memcpy(target, t, sizeof(t));
	memcpy(zone, z, sizeof(z));
	return 0;
}

/* The SOA query for the name itself may follow a CNAME chain (when the caller wants its end), whose end (check)
 * is then what the zone must hold; the queries for its parents only look for an SOA of their own zone, since a
 * CNAME there leads to another zone than the one holding the name. */
static int search(const char *ip, int port, long deadline, unsigned char *buf, char *p, int follow, char *zone,
		  char *check)
{
	char t[AT_DNS_NAME_TEXT];
	size_t n;
	uint16_t id;
	int rc;

	memcpy(check, p, strlen(p) + 1);
	for (int step = 0; step < AT_DNS_ZONE_MAX_STEPS; step++) {
		rc = at_dns_exchange_by(ip, port, p, AT_DNS_TYPE_SOA, deadline, buf, &n, &id);
		if (rc == 0)
			rc = at_dns_parse_zone(buf, n, id, p, t, zone);
		if (rc != 0)
			return rc;
		if (step == 0 && follow && strcmp(t, p) != 0)
			memcpy(check, t, sizeof(t)); /* the challenge is delegated by CNAME: its end's zone counts */
		else if (strcmp(t, p) != 0)
			zone[0] = '\0';
		if (zone[0] != '\0')
			return 0;
		const char *up = strchr(step == 0 ? check : p, '.');
		if (up == NULL)
			return AT_E_NOTFOUND; /* the root is not asked */
		memmove(p, up + 1, strlen(up + 1) + 1);
	}
	return AT_E_NOTFOUND;
}

int at_dns_find_zone(const char *server_ip, int port, const char *name, int timeout_ms, char *zone, size_t cap,
		     char *alias_end)
{
	char p[AT_DNS_NAME_TEXT], z[AT_DNS_NAME_TEXT], check[AT_DNS_NAME_TEXT];
	long deadline = at_clock_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	size_t len;
	int rc;

	if (name == NULL || at_dns_name_len(name, &len) != 0)
		return AT_E_BADNAME;
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
	p[len] = '\0';
	unsigned char *buf = malloc(AT_DNS_MSG_MAX);
	if (buf == NULL)
		return AT_E_NOMEM;
	rc = search(server_ip, port, deadline, buf, p, alias_end != NULL, z, check);
	free(buf);
	if (rc != 0)
		return rc;
	if (strlen(z) + 1 > cap)
		return AT_E_RANGE;
	memcpy(zone, z, strlen(z) + 1);
	if (alias_end != NULL)
		memcpy(alias_end, check, sizeof(check));
	return 0;
}
