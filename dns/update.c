/* RFC 2136 updates signed with TSIG (see update.h). RFC 2136 section 2 for the message. */
#include "dns/update.h"
#include "dns/transport.h"
#include "dns/wire.h"
#include "util/err.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPCODE_UPDATE 5
#define VALUE_MAX 1000

int at_dns_update_build(unsigned char *out, size_t cap, size_t *len, uint16_t id, const char *zone, const char *name,
			const char *value, int add)
{
	size_t off = AT_DNS_HDR, vlen, rdlen_at;
	int rc;

	if (zone == NULL || name == NULL || value == NULL)
		return AT_E_INVAL;
	vlen = strlen(value);
	if (vlen > VALUE_MAX)
		return AT_E_INVAL;
	if (!at_dns_in_zone(name, zone))
		return AT_E_BADNAME;
	if (cap < AT_DNS_HDR)
		return AT_E_RANGE;
	/* RFC 2136 section 2.2: ID, QR 0, Opcode UPDATE; ZOCOUNT 1, PRCOUNT 0, UPCOUNT 1, ADCOUNT 0. */
	memset(out, 0, AT_DNS_HDR);
	at_dns_put16(out, id);
	out[2] = OPCODE_UPDATE << 3;
	at_dns_put16(out + 4, 1);
	at_dns_put16(out + 8, 1);
	/* Zone section (2.3): ZNAME, ZTYPE SOA, ZCLASS IN. */
	if ((rc = at_dns_put_name(out, cap, &off, zone)) != 0)
		return rc;
	if (off + 4 > cap)
		return AT_E_RANGE;
	at_dns_put16(out + off, AT_DNS_TYPE_SOA);
	at_dns_put16(out + off + 2, AT_DNS_CLASS_IN);
	off += 4;
	/* Update section (2.5.1 add to an RRset: class IN, a TTL; 2.5.4 delete one RR: class NONE, TTL 0). */
	if ((rc = at_dns_put_name(out, cap, &off, name)) != 0)
		return rc;
	if (off + 10 > cap)
		return AT_E_RANGE;
	at_dns_put16(out + off, AT_DNS_TYPE_TXT);
	at_dns_put16(out + off + 2, add ? AT_DNS_CLASS_IN : AT_DNS_CLASS_NONE);
	at_dns_put32(out + off + 4, add ? AT_DNS_UPDATE_TTL : 0);
	rdlen_at = off + 8;
	off += 10;
	/* TXT RDATA: character-strings of at most 255 bytes (RFC 1035 section 3.3.14); an empty value is one
	 * empty string. */
	size_t at = 0;
	do {
		size_t l = vlen - at > 255 ? 255 : vlen - at;
		if (off + 1 + l > cap)
			return AT_E_RANGE;
		out[off++] = (unsigned char)l;
		memcpy(out + off, value + at, l);
		off += l;
		at += l;
	} while (at < vlen);
	at_dns_put16(out + rdlen_at, (unsigned)(off - rdlen_at - 2));
	*len = off;
	return 0;
}

int at_dns_update_parse_response(const unsigned char *msg, size_t len, uint16_t id, const char *zone,
				 const struct at_tsig_key *key, const unsigned char *req_mac, size_t req_maclen,
				 uint64_t now, struct at_dns_update_result *res)
{
	char text[AT_DNS_NAME_TEXT];
	struct at_dns_rr rr;
	size_t off = AT_DNS_HDR, tsig_at = 0;
	int has_tsig = 0;

	memset(res, 0, sizeof(*res));
	if (!at_tsig_key_ok(key) || zone == NULL || req_maclen > AT_TSIG_MAC_MAX)
		return AT_E_INVAL;
	if (len < AT_DNS_HDR || at_dns_get16(msg) != id)
		return AT_E_PARSE;
	if (!(msg[2] & 0x80) || ((msg[2] >> 3) & 0x0F) != OPCODE_UPDATE)
		return AT_E_PARSE; /* not a response, or not to an UPDATE */
	if (msg[2] & 0x02)
		return AT_E_PARSE; /* TC: it came over TCP */
	unsigned zo = at_dns_get16(msg + 4), ad = at_dns_get16(msg + 10);
	unsigned total = at_dns_get16(msg + 6) + at_dns_get16(msg + 8) + ad;
	res->rcode = msg[3] & 0x0F;
	/* The zone section is echoed (or left out by a server that could not parse ours): ours or nothing. */
	if (zo > 1)
		return AT_E_PARSE;
	if (zo == 1) {
		if (at_dns_read_name(msg, len, &off, text) != 0 || off + 4 > len)
			return AT_E_PARSE;
		if (!at_dns_name_eq(zone, text) || at_dns_get16(msg + off) != AT_DNS_TYPE_SOA ||
		    at_dns_get16(msg + off + 2) != AT_DNS_CLASS_IN)
			return AT_E_PARSE;
		off += 4;
	}
	for (unsigned i = 0; i < total; i++) {
		size_t start = off;
		if (at_dns_read_rr(msg, len, &off, &rr) != 0)
			return AT_E_PARSE;
		if (rr.type == AT_DNS_TYPE_TSIG) {
			/* Only as the very last record, in the additional section (RFC 8945 section 5.2). */
			if (i != total - 1 || ad == 0)
				return AT_E_PARSE;
			has_tsig = 1;
			tsig_at = start;
		}
	}
	if (off != len)
		return AT_E_PARSE; /* bytes after the last record */
	if (has_tsig) {
		struct at_tsig_check chk;
		int rc = at_tsig_verify(msg, len, tsig_at, key, req_mac, req_maclen, now, &chk);
		res->tsig_error = chk.error;
		res->signed_ok = chk.signed_ok;
		res->local_badtime = chk.local_badtime;
		if (rc != 0)
			return rc;
	}
	if (res->rcode != 0)
		return AT_E_NET;
	if (!has_tsig || !res->signed_ok || res->tsig_error != 0 || res->local_badtime)
		return AT_E_CRYPTO;
	return 0;
}

const char *at_dns_update_strerror(const struct at_dns_update_result *res)
{
	switch (res->tsig_error) {
	case 0:
		break;
	case AT_TSIG_BADSIG:
		return "BADSIG: the server could not verify the TSIG signature (the secret differs from the server's)";
	case AT_TSIG_BADKEY:
		return "BADKEY: the server does not know this TSIG key name with this algorithm";
	case AT_TSIG_BADTIME:
		return "BADTIME: our clock and the server's differ by more than the TSIG fudge (300 s)";
	default:
		return "the server returned an unknown TSIG error";
	}
	switch (res->rcode) {
	case 0:
		if (res->local_badtime)
			return "the answer's TSIG time is more than its fudge away from our clock";
		if (!res->signed_ok)
			return "the answer is not signed with our TSIG key, or its MAC does not verify";
		return "NOERROR";
	case 1:
		return "FORMERR: the server could not parse the update";
	case 2:
		return "SERVFAIL: the server failed to apply the update";
	case 3:
		return "NXDOMAIN";
	case 4:
		return "NOTIMP: the server does not take dynamic updates";
	case 5:
		return "REFUSED: the server's policy does not allow this update (with this key)";
	case 6:
		return "YXDOMAIN";
	case 7:
		return "YXRRSET";
	case 8:
		return "NXRRSET";
	case AT_DNS_RCODE_NOTAUTH:
		return "NOTAUTH: the server is not authoritative for the zone, or does not accept this key for it";
	case 10:
		return "NOTZONE: the name is not in the zone";
	default:
		return "the server answered with an unknown RCODE";
	}
}

int at_dns_update_txt(const char *server_ip, int port, const struct at_tsig_key *key, const char *zone,
		      const char *name, const char *value, int add, int timeout_ms, struct at_dns_update_result *res)
{
	unsigned char q[2048], mac[AT_TSIG_MAC_MAX];
	unsigned char *r = NULL;
	size_t qlen, maclen, rlen;
	uint16_t id;
	struct at_dns_update_result dummy;
	int rc;

	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	id = at_dns_new_id();
	if ((rc = at_dns_update_build(q, sizeof(q), &qlen, id, zone, name, value, add)) != 0)
		return rc;
	if ((rc = at_tsig_sign(q, sizeof(q), &qlen, key, (uint64_t)time(NULL), mac, &maclen)) != 0)
		return rc;
	r = malloc(AT_DNS_MSG_MAX);
	if (r == NULL)
		return AT_E_NOMEM;
	rc = at_dns_tcp_exchange(server_ip, port, q, qlen, r, AT_DNS_MSG_MAX, &rlen, timeout_ms);
	if (rc == 0)
		rc = at_dns_update_parse_response(r, rlen, id, zone, key, mac, maclen, (uint64_t)time(NULL), res);
	free(r);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}
