/*
 * The lookups behind dns/auth.h: the zone (dns/zone.h), its NS set and their addresses at a recursive resolver,
 * and the TXT question to one authoritative server. Each query gets what is left of the caller's time, at most
 * AT_DNS_QUERY_MS, so one silent server cannot use it all.
 */
#include "dns/auth.h"
#include "dns/query.h"
#include "dns/transport.h"
#include "dns/zone.h"
#include "util/clock.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static int has_addr(const struct at_dns_auth *a, size_t server)
{
	for (size_t i = 0; i < a->naddr; i++)
		if (a->addr[i].server == server)
			return 1;
	return 0;
}

int at_dns_auth_find(const char *resolver_ip, int port, const char *name, int timeout_ms, struct at_dns_auth *out)
{
	static const uint16_t types[] = { AT_DNS_TYPE_A, AT_DNS_TYPE_AAAA };
	long deadline = at_clock_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	struct at_dns_auth *a = calloc(1, sizeof(*a));
	unsigned char *buf = malloc(AT_DNS_MSG_MAX);
	size_t n;
	uint16_t id;
	int rc = AT_E_NOMEM;

	if (a == NULL || buf == NULL || name == NULL)
		goto out;
	rc = at_dns_find_zone(resolver_ip, port, name, (int)(deadline - at_clock_ms()), a->zone, sizeof(a->zone),
			      a->name);
	if (rc == 0)
		rc = at_dns_exchange_by(resolver_ip, port, a->zone, AT_DNS_TYPE_NS, deadline, buf, &n, &id);
	if (rc == 0)
		rc = at_dns_parse_ns(buf, n, id, a->zone, a);
	if (rc == 0 && a->nns == 0)
		rc = AT_E_NOTFOUND;
	/* Step 3: the servers the additional section gave no address for. One that cannot be resolved, in time or
	 * at all, is left without addresses (the caller reports it); the others still count, and time running out
	 * here keeps the addresses found so far. */
	int out_of_time = 0;
	for (size_t s = 0; rc == 0 && !out_of_time && s < a->nns; s++) {
		if (has_addr(a, s))
			continue;
		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]) && a->naddr < AT_DNS_AUTH_MAX_ADDRS; t++) {
			int qrc = at_dns_exchange_by(resolver_ip, port, a->ns[s], types[t], deadline, buf, &n, &id);
			if (qrc == 0)
				qrc = at_dns_parse_addrs(buf, n, id, a->ns[s], types[t], s, a);
			if (qrc == AT_E_TIMEOUT && at_clock_ms() >= deadline) {
				out_of_time = 1;
				break;
			}
		}
	}
	if (rc == 0 && a->naddr == 0 && out_of_time)
		rc = AT_E_TIMEOUT;
	if (rc == 0 && a->naddr == 0)
		rc = AT_E_NOTFOUND;
	if (rc == 0)
		memcpy(out, a, sizeof(*a));
out:
	free(buf);
	free(a);
	return rc;
}

int at_dns_auth_txt(const char *ip, int port, const char *name, const char *value, int authoritative, int timeout_ms,
		    enum at_dns_auth_answer *answer, unsigned *rcode)
{
	struct at_dns_head h;
	size_t n;
	uint16_t id;
	int found = 0, rc;
	unsigned char *buf = malloc(AT_DNS_MSG_MAX);

	if (buf == NULL)
		return AT_E_NOMEM;
	if (value == NULL) {
		rc = AT_E_INVAL;
		goto out;
	}
	rc = at_dns_exchange(ip, port, name, AT_DNS_TYPE_TXT, !authoritative, buf, AT_DNS_MSG_MAX, &n, &id,
			     timeout_ms);
	if (rc != 0)
		goto out; /* no answer */
	rc = at_dns_read_head(buf, n, id, name, AT_DNS_TYPE_TXT, &h);
	if (rc != 0)
		goto out;
	rc = at_dns_parse_txt(buf, n, id, name, value, &found);
	if (rc == AT_E_NET) {
		*answer = AT_DNS_AUTH_RCODE; /* it answered, with an error */
		rc = 0;
	} else if (rc == 0 && authoritative && !h.aa) {
		*answer = AT_DNS_AUTH_NOT_AUTH;
	} else if (rc == 0) {
		*answer = found ? AT_DNS_AUTH_SHOWS : AT_DNS_AUTH_MISSING;
	}
	if (rc == 0)
		*rcode = h.rcode;
out:
	free(buf);
	return rc;
}
