/* libFuzzer: answers to the SOA, NS and A/AAAA queries that find a zone's authoritative servers (dns/zone.h,
 * dns/auth.h), as a resolver or anyone on the path could send them. The first byte picks the parser; the rest is
 * the message, whose own id is used so that inputs get past the id check. Properties: only the
 * documented codes, names that are host names, counts within their caps, no address list changed on an error. */
#include "tests/fuzz/fuzz_check.h"
#include "dns/auth.h"
#include "dns/zone.h"
#include "util/err.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct at_dns_auth a;
	char target[AT_DNS_NAME_TEXT], zone[AT_DNS_NAME_TEXT];

	if (size < 1)
		return 0;
	unsigned pick = data[0] % 3;
	data++;
	size--;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	memset(&a, 0, sizeof(a));
	if (pick == 0) {
		int rc = at_dns_parse_zone(data, size, id, "_acme-challenge.a.test", target, zone);
		FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE || rc == AT_E_NET || rc == AT_E_TOOBIG);
		if (rc == 0) {
			size_t z = strlen(zone), t = strlen(target);
			FUZZ_CHECK(t > 0 && t < AT_DNS_NAME_TEXT);
			/* the zone holds the target, at a label boundary */
			FUZZ_CHECK(z == 0 || (z <= t && strcmp(target + t - z, zone) == 0 &&
					      (z == t || target[t - z - 1] == '.')));
		}
	} else if (pick == 1) {
		int rc = at_dns_parse_ns(data, size, id, "a.test", &a);
		FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE || rc == AT_E_NET || rc == AT_E_TOOBIG || rc == AT_E_NOTFOUND);
		FUZZ_CHECK(a.nns <= AT_DNS_AUTH_MAX_SERVERS && a.naddr <= AT_DNS_AUTH_MAX_ADDRS);
		FUZZ_CHECK(rc == 0 || (a.nns == 0 && a.naddr == 0));
		for (size_t i = 0; i < a.nns; i++)
			FUZZ_CHECK(at_dns_host_ok(a.ns[i]));
		for (size_t i = 0; i < a.naddr; i++)
			FUZZ_CHECK(a.addr[i].server < a.nns && a.addr[i].ip[0] != '\0');
	} else {
		a.nns = 1;
		strcpy(a.ns[0], "ns.a.test");
		unsigned qtype = size % 2 ? AT_DNS_TYPE_A : AT_DNS_TYPE_AAAA;
		int rc = at_dns_parse_addrs(data, size, id, "ns.a.test", qtype, 0, &a);
		FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE || rc == AT_E_NET || rc == AT_E_TOOBIG);
		FUZZ_CHECK(a.naddr <= AT_DNS_AUTH_MAX_ADDRS && (rc == 0 || a.naddr == 0));
	}
	return 0;
}
