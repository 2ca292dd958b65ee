/* The DNS message format (see wire.h). RFC 1035 section 4 for the message, section 3.1 for names. */
#include "dns/wire.h"
#include "util/err.h"

#include <string.h>

#define NAME_MAX_WIRE 255

static unsigned char lower(unsigned char c)
{
	return (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* n bytes of a and b are equal but for ASCII case (DNS compares names so, RFC 4343 section 3; no locale). */
static int same_bytes(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int at_dns_name_len(const char *name, size_t *n)
{
	size_t l = strlen(name);
	if (l > 0 && name[l - 1] == '.')
		l--;
	if (l == 0 || l > 253 || name[l - 1] == '.')
		return AT_E_BADNAME;
	*n = l;
	return 0;
}

int at_dns_name_eq(const char *given, const char *read)
{
	size_t n = strlen(given), m = strlen(read);
	if (n > 0 && given[n - 1] == '.')
		n--;
	return n == m && same_bytes(given, read, n);
}

int at_dns_in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (z > 0 && zone[z - 1] == '.')
		z--;
	if (z == 0 || z > n || !same_bytes(name + n - z, zone, z))
		return 0;
	return z == n || name[n - z - 1] == '.';
}

int at_dns_host_ok(const char *name)
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

int at_dns_put_name(unsigned char *out, size_t cap, size_t *off, const char *name)
{
	size_t n, o = *off, wire = 1;
	int rc = at_dns_name_len(name, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n;) {
		size_t l = 0;
		while (i + l < n && name[i + l] != '.')
			l++;
		if (l == 0 || l > 63)
			return AT_E_BADNAME;
		wire += 1 + l;
		if (wire > NAME_MAX_WIRE)
			return AT_E_BADNAME;
		if (o + 1 + l > cap)
			return AT_E_RANGE;
		out[o++] = (unsigned char)l;
		for (size_t k = 0; k < l; k++)
			out[o++] = lower((unsigned char)name[i + k]);
		i += l + 1;
	}
	if (o + 1 > cap)
		return AT_E_RANGE;
	out[o++] = 0;
	*off = o;
	return 0;
}

int at_dns_build_query(unsigned char *out, size_t cap, size_t *len, const char *name, uint16_t id, uint16_t qtype)
{
	size_t n, off = AT_DNS_HDR;
	int rc = at_dns_name_len(name, &n);

	if (rc != 0)
		return rc;
	if (cap < AT_DNS_HDR + n + 2 + 4)
		return AT_E_RANGE;
	memset(out, 0, AT_DNS_HDR);
	at_dns_put16(out, id);
	out[2] = 0x01;          /* RD */
	at_dns_put16(out + 4, 1); /* QDCOUNT */
	if ((rc = at_dns_put_name(out, cap, &off, name)) != 0)
		return rc;
	at_dns_put16(out + off, qtype);
	at_dns_put16(out + off + 2, AT_DNS_CLASS_IN);
	*len = off + 4;
	return 0;
}

/* See wire.h. Pointers must point backwards (before the byte where the current stretch of labels began), and at
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
			size_t target = (size_t)(at_dns_get16(msg + pos) & 0x3FFF);
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
		for (unsigned i = 0; i < c; i++)
			text[t++] = (char)lower(msg[pos + 1 + i]);
		pos += 1 + c;
	}
	text[t] = '\0';
	*off = end;
	return 0;
}

int at_dns_soa_ok(const unsigned char *msg, size_t off, size_t rdlen)
{
	char tmp[AT_DNS_NAME_TEXT];
	size_t r = off, end = off + rdlen;
	if (at_dns_read_name(msg, end, &r, tmp) != 0 || at_dns_read_name(msg, end, &r, tmp) != 0)
		return 0;
	return r + 20 == end;
}

/* RFC 1035 section 4.1.1: the header, then the one question, which must be the one we asked. */
int at_dns_read_head(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
		     struct at_dns_head *h)
{
	char owner[AT_DNS_NAME_TEXT];
	size_t off = AT_DNS_HDR;

	if (len < AT_DNS_HDR || at_dns_get16(msg) != id)
		return AT_E_PARSE;
	if (!(msg[2] & 0x80) || (msg[2] & 0x78) != 0)
		return AT_E_PARSE; /* not a response, or not to a standard query */
	if (msg[2] & 0x02)
		return AT_E_TOOBIG; /* TC */
	if (at_dns_get16(msg + 4) != 1)
		return AT_E_PARSE;
	if (at_dns_read_name(msg, len, &off, owner) != 0 || off + 4 > len)
		return AT_E_PARSE;
	if (!at_dns_name_eq(name, owner) || at_dns_get16(msg + off) != qtype ||
	    at_dns_get16(msg + off + 2) != AT_DNS_CLASS_IN)
		return AT_E_PARSE;
	h->rcode = msg[3] & 0x0F;
	h->aa = (msg[2] & 0x04) != 0;
	h->an = at_dns_get16(msg + 6);
	h->ns = at_dns_get16(msg + 8);
	h->ar = at_dns_get16(msg + 10);
	h->off = off + 4;
	memcpy(h->qname, owner, sizeof(owner));
	return 0;
}

int at_dns_read_answer(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
		       struct at_dns_head *h, char *target)
{
	int rc = at_dns_read_head(msg, len, id, name, qtype, h);
	if (rc != 0)
		return rc;
	if (h->rcode != 0 && h->rcode != AT_DNS_RCODE_NXDOMAIN)
		return AT_E_NET;
	memcpy(target, h->qname, AT_DNS_NAME_TEXT);
	return 0;
}

/* RFC 1035 section 4.1.3: owner, type, class, TTL, RDLENGTH, then RDATA that must fit in the message. */
int at_dns_read_rr(const unsigned char *msg, size_t len, size_t *off, struct at_dns_rr *rr)
{
	size_t o = *off;

	if (at_dns_read_name(msg, len, &o, rr->owner) != 0 || o + 10 > len)
		return AT_E_PARSE;
	rr->type = at_dns_get16(msg + o);
	rr->klass = at_dns_get16(msg + o + 2);
	rr->rdlen = at_dns_get16(msg + o + 8);
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

int at_dns_walk_answer(const unsigned char *msg, size_t len, const struct at_dns_head *h, size_t *off, char *target,
		       at_dns_each_rr each, void *arg)
{
	struct at_dns_rr rr;
	int links = 0, rc;

	*off = h->off;
	for (unsigned i = 0; i < h->an; i++) {
		if (at_dns_read_rr(msg, len, off, &rr) != 0)
			return AT_E_PARSE;
		if (rr.klass != AT_DNS_CLASS_IN)
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
