/*
 * RFC 2136 dynamic updates signed with TSIG (dns/tsig.h), for one job: add or delete the TXT record
 * _acme-challenge.<name> that a DNS-01 challenge asks for (RFC 8555 section 8.4) at a zone's primary server.
 *
 * The message: header with opcode UPDATE, the zone section naming the zone (SOA, IN), no prerequisites, one
 * update RR (add: class IN, TTL 60, the value as TXT; delete: class NONE, TTL 0, the same RDATA, which removes
 * that one value only, so a wildcard and its base name can share the owner name with two values), and the TSIG
 * RR last in the additional section. Names are written uncompressed. It goes over TCP (an UPDATE is small, and
 * TCP spares us truncation and spoofed UDP answers).
 *
 * The answer is outside input: it is parsed with the strict readers of dns/wire.h, the TSIG RR must be the last
 * record and well formed, and a NOERROR answer counts only when its TSIG MAC verifies (the request MAC chained
 * in, RFC 8945 section 5.3) within the fudge. An error answer is reported whether or not it is signed: a forged
 * one can only make the update fail, as dropping it could.
 *
 * The TSIG secret is borrowed and never copied, logged or put in an error text. Blocks up to the timeout given:
 * never call it on a server thread.
 */
#ifndef AUTOTLS_DNS_UPDATE_H
#define AUTOTLS_DNS_UPDATE_H

#include "dns/tsig.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define AT_DNS_UPDATE_TTL 60

/* What the server answered: its RCODE (RFC 1035 / 2136: 0 NOERROR, 5 REFUSED, 9 NOTAUTH, 10 NOTZONE, ...), the
 * TSIG error of its TSIG RR (16 BADSIG, 17 BADKEY, 18 BADTIME; 0 when none), and whether its MAC verified.
 * local_badtime: the answer's own time was outside the fudge from our clock. */
struct at_dns_update_result {
	int rcode;
	int tsig_error;
	int signed_ok;
	int local_badtime;
};

/*
 * Writes an unsigned UPDATE for zone adding (add = 1) or deleting (add = 0) the TXT record name = value (name
 * is the full owner, e.g. "_acme-challenge.www.example.com", and must be in zone) with id, into out (cap
 * bytes); *len gets its size. Returns 0, AT_E_BADNAME (a name not valid in DNS, or name not under zone),
 * AT_E_INVAL (value over 1,000 bytes), AT_E_RANGE (cap too small).
 */
int at_dns_update_build(unsigned char *out, size_t cap, size_t *len, uint16_t id, const char *zone, const char *name,
			const char *value, int add) AT_MUST_CHECK;

/*
 * Parses msg (len bytes), the answer to an UPDATE with id for zone signed with key, whose request MAC was
 * req_mac (req_maclen bytes), at our time now; fills *res. Returns 0 when the server applied the update
 * (NOERROR with a valid TSIG), AT_E_NET when it answered with an error RCODE (see res and
 * at_dns_update_strerror), AT_E_CRYPTO when a NOERROR answer is unsigned, signed with another key or algorithm,
 * has a MAC that does not verify, or a time outside the fudge, AT_E_PARSE for a malformed or mismatched
 * message. Borrows everything.
 */
int at_dns_update_parse_response(const unsigned char *msg, size_t len, uint16_t id, const char *zone,
				 const struct at_tsig_key *key, const unsigned char *req_mac, size_t req_maclen,
				 uint64_t now, struct at_dns_update_result *res) AT_MUST_CHECK;

/* A short static English text for a result, naming the RCODE and TSIG error and what they usually mean
 * (BADSIG: the secret differs; BADKEY: the server does not know the key name or algorithm; ...). Never NULL. */
const char *at_dns_update_strerror(const struct at_dns_update_result *res);

/*
 * Adds (add = 1) or deletes (add = 0) the TXT record name = value in zone at server_ip:port, signed with key at
 * the current time, over TCP within timeout_ms. res (may be NULL) gets what the server answered. Returns 0, what
 * at_dns_update_build, at_tsig_sign, at_dns_tcp_exchange or at_dns_update_parse_response returned. The zone, when
 * not configured, comes from at_dns_find_zone (dns/zone.h) asked at the same server.
 */
int at_dns_update_txt(const char *server_ip, int port, const struct at_tsig_key *key, const char *zone,
		      const char *name, const char *value, int add, int timeout_ms, struct at_dns_update_result *res)
	AT_MUST_CHECK;

#endif
