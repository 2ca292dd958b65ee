/* The TXT question and the system resolver (see query.h). RFC 1035 section 3.3.14 for TXT RDATA. */
#include "dns/query.h"
#include "dns/transport.h"
#include "dns/wire.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct txt_walk {
	const char *value;
	int hit;
};

/* A TXT record of the chain's end that holds the value is a hit; any TXT record must be well formed. */
static int txt_in_answer(const unsigned char *msg, const struct at_dns_rr *rr, const char *target, void *arg)
{
	struct txt_walk *w = arg;
	if (rr->type != AT_DNS_TYPE_TXT)
		return 0;
	int eq = txt_equals(msg + rr->rdoff, rr->rdlen, w->value);
	if (eq < 0)
		return AT_E_PARSE;
	if (eq && strcmp(rr->owner, target) == 0)
		w->hit = 1;
	return 0;
}

int at_dns_parse_txt(const unsigned char *msg, size_t len, uint16_t id, const char *name, const char *value,
		     int *found)
{
	char target[AT_DNS_NAME_TEXT];
	struct at_dns_head h;
	struct txt_walk w = { .value = value, .hit = 0 };
	size_t off;
	int rc = at_dns_read_answer(msg, len, id, name, AT_DNS_TYPE_TXT, &h, target);

	if (rc != 0)
		return rc;
	if (h.rcode == AT_DNS_RCODE_NXDOMAIN) {
		*found = 0;
		return 0;
	}
	rc = at_dns_walk_answer(msg, len, &h, &off, target, txt_in_answer, &w);
	if (rc != 0)
		return rc;
	*found = w.hit;
	return 0;
}

int at_dns_txt_has(const char *server_ip, int port, const char *name, const char *value, int timeout_ms,
		   int *found)
{
	size_t n;
	uint16_t id;

	if (value == NULL)
		return AT_E_INVAL;
	/* One buffer for the largest message either transport can carry. */
	unsigned char *r = malloc(AT_DNS_MSG_MAX);
	if (r == NULL)
		return AT_E_NOMEM;
	int rc = at_dns_exchange(server_ip, port, name, AT_DNS_TYPE_TXT, 1, r, AT_DNS_MSG_MAX, &n, &id, timeout_ms);
	if (rc == 0)
		rc = at_dns_parse_txt(r, n, id, name, value, found);
	free(r);
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
