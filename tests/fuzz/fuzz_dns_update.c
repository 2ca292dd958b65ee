/* libFuzzer: answers to an RFC 2136 UPDATE signed with TSIG (dns/update.h), as the update server or anyone on
 * the path could send them. The request is a real one, built and signed once with the library's own
 * at_dns_update_build and at_tsig_sign at a fixed time, so that the seeds (answers to it, signed with the request
 * MAC chained in) get past the MAC check; the id is taken from the answer's own header. Properties: only the
 * documented codes, and each code with the result it promises (0 only for a NOERROR answer whose MAC verified in
 * time, AT_E_NET only with an error RCODE, AT_E_CRYPTO only for a NOERROR answer that is not well signed). */
#include "dns/update.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"

#include <stdint.h>
#include <string.h>

#define T0 1700000000ULL
#define REQ_ID 0x4242

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
static const struct at_tsig_key key = { AT_TSIG_HMAC_SHA256, "acme-key", secret, 32 };

/* The request MAC the seeds chain in: the same request, built and signed as the seed generator did. */
static int request_mac(unsigned char *mac, size_t *maclen)
{
	unsigned char q[1024];
	size_t qlen;
	if (at_dns_update_build(q, sizeof(q), &qlen, REQ_ID, "example.test", "_acme-challenge.www.example.test",
				"fuzz-value", 1) != 0)
		return -1;
	return at_tsig_sign(q, sizeof(q), &qlen, &key, T0, mac, maclen) == 0 ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char req_mac[AT_TSIG_MAC_MAX];
	static size_t req_maclen;
	struct at_dns_update_result res;

	if (req_maclen == 0)
		FUZZ_CHECK(request_mac(req_mac, &req_maclen) == 0);
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	int rc = at_dns_update_parse_response(data, size, id, "example.test", &key, req_mac, req_maclen, T0, &res);
	FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE || rc == AT_E_NET || rc == AT_E_CRYPTO);
	FUZZ_CHECK(res.rcode >= 0 && res.rcode <= 15 && res.tsig_error >= 0 && res.tsig_error <= 0xFFFF);
	FUZZ_CHECK(res.signed_ok == 0 || res.signed_ok == 1);
	FUZZ_CHECK(!res.local_badtime || res.signed_ok);
	if (rc == 0)
		FUZZ_CHECK(res.rcode == 0 && res.signed_ok && res.tsig_error == 0 && !res.local_badtime);
	if (rc == AT_E_NET)
		FUZZ_CHECK(res.rcode != 0);
	if (rc == AT_E_CRYPTO)
		FUZZ_CHECK(res.rcode == 0 && (!res.signed_ok || res.tsig_error != 0 || res.local_badtime));
	FUZZ_CHECK(at_dns_update_strerror(&res) != NULL);
	return 0;
}
