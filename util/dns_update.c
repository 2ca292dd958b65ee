/* RFC 2136 updates signed with TSIG (see dns_update.h). RFC 8945 section 4 for the TSIG RR and its MAC. */
#include "util/dns_update.h"
#include "util/dns.h"
#include "util/err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define HDR 12
#define OPCODE_UPDATE 5
#define TYPE_TSIG 250
#define CLASS_IN 1
#define CLASS_NONE 254
#define CLASS_ANY 255
#define VALUE_MAX 1000
#define MSG_MAX 65535

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xFFFF);
}

static void put48(unsigned char *p, uint64_t v)
{
	put16(p, (unsigned)(v >> 32) & 0xFFFF);
	put32(p + 2, (uint32_t)v);
}

/* name (an optional final dot) without the dot, its length into *n; 0 or AT_E_BADNAME. */
static int trim(const char *name, size_t *n)
{
	size_t l = strlen(name);
	if (l > 0 && name[l - 1] == '.')
		l--;
	if (l == 0 || l > 253 || name[l - 1] == '.')
		return AT_E_BADNAME;
	*n = l;
	return 0;
}

/* Writes name uncompressed and in lower case (the canonical form TSIG's MAC needs, RFC 8945 section 4.3.3) at
 * out[*off]. 0, AT_E_BADNAME or AT_E_RANGE. */
static int put_name(unsigned char *out, size_t cap, size_t *off, const char *name)
{
	size_t n, o = *off, wire = 1;
	int rc = trim(name, &n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n;) {
		size_t l = 0;
		while (i + l < n && name[i + l] != '.')
			l++;
		if (l == 0 || l > 63)
			return AT_E_BADNAME;
		wire += 1 + l;
		if (wire > 255)
			return AT_E_BADNAME;
		if (o + 1 + l > cap)
			return AT_E_RANGE;
		out[o++] = (unsigned char)l;
		for (size_t k = 0; k < l; k++) {
			unsigned char c = (unsigned char)name[i + k];
			out[o++] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		i += l + 1;
	}
	if (o + 1 > cap)
		return AT_E_RANGE;
	out[o++] = 0;
	*off = o;
	return 0;
}

/* a equals b as DNS names (either may end with a dot, any case). */
static int name_eq(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	if (n > 0 && a[n - 1] == '.')
		n--;
	if (m > 0 && b[m - 1] == '.')
		m--;
	return n == m && strncasecmp(a, b, n) == 0;
}

/* name is zone or below it. */
static int in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (z > 0 && zone[z - 1] == '.')
		z--;
	if (n == z)
		return strncasecmp(name, zone, n) == 0;
	return n > z && name[n - z - 1] == '.' && strncasecmp(name + n - z, zone, z) == 0;
}

static const char *alg_name(enum at_tsig_alg alg)
{
	return alg == AT_TSIG_HMAC_SHA256 ? "hmac-sha256" : alg == AT_TSIG_HMAC_SHA512 ? "hmac-sha512" : NULL;
}

static size_t alg_size(enum at_tsig_alg alg)
{
	return alg == AT_TSIG_HMAC_SHA256 ? 32 : 64;
}

int at_dns_update_build(unsigned char *out, size_t cap, size_t *len, uint16_t id, const char *zone, const char *name,
			const char *value, int add)
{
	size_t off = HDR, vlen, rdlen_at;
	int rc;

	if (zone == NULL || name == NULL || value == NULL)
		return AT_E_INVAL;
	vlen = strlen(value);
	if (vlen > VALUE_MAX)
		return AT_E_INVAL;
	if (!in_zone(name, zone))
		return AT_E_BADNAME;
	if (cap < HDR)
		return AT_E_RANGE;
	/* RFC 2136 section 2.2: ID, QR 0, Opcode UPDATE; ZOCOUNT 1, PRCOUNT 0, UPCOUNT 1, ADCOUNT 0. */
	memset(out, 0, HDR);
	put16(out, id);
	out[2] = OPCODE_UPDATE << 3;
	put16(out + 4, 1);
	put16(out + 8, 1);
	/* Zone section (2.3): ZNAME, ZTYPE SOA, ZCLASS IN. */
	if ((rc = put_name(out, cap, &off, zone)) != 0)
		return rc;
	if (off + 4 > cap)
		return AT_E_RANGE;
	put16(out + off, AT_DNS_TYPE_SOA);
	put16(out + off + 2, CLASS_IN);
	off += 4;
	/* Update section (2.5.1 add to an RRset: class IN, a TTL; 2.5.4 delete one RR: class NONE, TTL 0). */
	if ((rc = put_name(out, cap, &off, name)) != 0)
		return rc;
	if (off + 10 > cap)
		return AT_E_RANGE;
	put16(out + off, AT_DNS_TYPE_TXT);
	put16(out + off + 2, add ? CLASS_IN : CLASS_NONE);
	put32(out + off + 4, add ? AT_DNS_UPDATE_TTL : 0);
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
	put16(out + rdlen_at, (unsigned)(off - rdlen_at - 2));
	*len = off;
	return 0;
}

/* ---- the MAC ---- */

struct part {
	const unsigned char *p;
	size_t n;
};

/* HMAC with key's algorithm over the parts in turn into mac (AT_TSIG_MAC_MAX), *maclen its size. */
static int hmac_parts(const struct at_tsig_key *key, const struct part *parts, size_t nparts, unsigned char *mac,
		      size_t *maclen)
{
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
	char digest[16];
	OSSL_PARAM params[2];
	int rc = AT_E_CRYPTO;

	snprintf(digest, sizeof(digest), "%s", key->alg == AT_TSIG_HMAC_SHA256 ? "SHA256" : "SHA512");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_MAC_init(ctx, key->secret, key->secret_len, params) != 1)
		goto out;
	for (size_t i = 0; i < nparts; i++)
		if (parts[i].n > 0 && EVP_MAC_update(ctx, parts[i].p, parts[i].n) != 1)
			goto out;
	if (EVP_MAC_final(ctx, mac, maclen, AT_TSIG_MAC_MAX) != 1 || *maclen != alg_size(key->alg))
		goto out;
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(m);
	return rc;
}

/* The TSIG variables (RFC 8945 section 4.3.3) into v (cap bytes): key name, class ANY, TTL 0, algorithm name,
 * time signed, fudge, error, other length and other data. *len gets their size. */
static int put_vars(unsigned char *v, size_t cap, size_t *len, const struct at_tsig_key *key, uint64_t t,
		    unsigned fudge, unsigned error, const unsigned char *other, size_t other_len)
{
	size_t off = 0;
	int rc;
	if ((rc = put_name(v, cap, &off, key->name)) != 0)
		return rc;
	if (off + 6 > cap)
		return AT_E_RANGE;
	put16(v + off, CLASS_ANY);
	put32(v + off + 2, 0);
	off += 6;
	if ((rc = put_name(v, cap, &off, alg_name(key->alg))) != 0)
		return rc;
	if (off + 12 + other_len > cap)
		return AT_E_RANGE;
	put48(v + off, t);
	put16(v + off + 6, fudge);
	put16(v + off + 8, error);
	put16(v + off + 10, (unsigned)other_len);
	off += 12;
	if (other_len > 0)
		memcpy(v + off, other, other_len);
	*len = off + other_len;
	return 0;
}

static int key_ok(const struct at_tsig_key *key)
{
	return key != NULL && key->name != NULL && alg_name(key->alg) != NULL && key->secret != NULL &&
	       key->secret_len > 0;
}

int at_tsig_sign(unsigned char *msg, size_t cap, size_t *len, const struct at_tsig_key *key, uint64_t time_signed,
		 unsigned char *mac, size_t *maclen)
{
	unsigned char vars[600];
	size_t vlen, off = *len;
	int rc;

	if (!key_ok(key) || *len < HDR || time_signed >> 48)
		return AT_E_INVAL;
	if ((rc = put_vars(vars, sizeof(vars), &vlen, key, time_signed, AT_TSIG_FUDGE, 0, NULL, 0)) != 0)
		return rc;
	struct part parts[] = { { msg, *len }, { vars, vlen } };
	if ((rc = hmac_parts(key, parts, 2, mac, maclen)) != 0)
		return rc;
	/* The RR: NAME the key, TYPE TSIG, CLASS ANY, TTL 0, then RDATA (section 4.2). */
	if ((rc = put_name(msg, cap, &off, key->name)) != 0)
		return rc;
	if (off + 10 > cap)
		return AT_E_RANGE;
	put16(msg + off, TYPE_TSIG);
	put16(msg + off + 2, CLASS_ANY);
	put32(msg + off + 4, 0);
	size_t rdlen_at = off + 8;
	off += 10;
	if ((rc = put_name(msg, cap, &off, alg_name(key->alg))) != 0)
		return rc;
	if (off + 10 + *maclen + 6 > cap)
		return AT_E_RANGE;
	put48(msg + off, time_signed);
	put16(msg + off + 6, AT_TSIG_FUDGE);
	put16(msg + off + 8, (unsigned)*maclen);
	off += 10;
	memcpy(msg + off, mac, *maclen);
	off += *maclen;
	put16(msg + off, get16(msg)); /* Original ID */
	put16(msg + off + 2, 0);      /* Error */
	put16(msg + off + 4, 0);      /* Other Len */
	off += 6;
	put16(msg + rdlen_at, (unsigned)(off - rdlen_at - 2));
	put16(msg + 10, get16(msg + 10) + 1);
	*len = off;
	return 0;
}

/* ---- the answer ---- */

/* Reads an uncompressed name at msg[*off] (limit: end): the TSIG RR's names must not be compressed (RFC 8945
 * section 4.2). */
static int read_plain_name(const unsigned char *msg, size_t end, size_t *off, char text[AT_DNS_NAME_TEXT])
{
	size_t start = *off;
	if (at_dns_read_name(msg, end, off, text) != 0)
		return AT_E_PARSE;
	/* Uncompressed, a name takes one byte per character and two more (the first length and the root); the
	 * root alone takes one. */
	size_t want = text[0] ? strlen(text) + 2 : 1;
	return *off - start == want ? 0 : AT_E_PARSE;
}

int at_dns_update_parse_response(const unsigned char *msg, size_t len, uint16_t id, const char *zone,
				 const struct at_tsig_key *key, const unsigned char *req_mac, size_t req_maclen,
				 uint64_t now, struct at_dns_update_result *res)
{
	char text[AT_DNS_NAME_TEXT];
	size_t off = HDR, tsig_at = 0, rd = 0, rdlen = 0;
	int has_tsig = 0;

	memset(res, 0, sizeof(*res));
	if (!key_ok(key) || zone == NULL || req_maclen > AT_TSIG_MAC_MAX)
		return AT_E_INVAL;
	if (len < HDR || get16(msg) != id)
		return AT_E_PARSE;
	if (!(msg[2] & 0x80) || ((msg[2] >> 3) & 0x0F) != OPCODE_UPDATE)
		return AT_E_PARSE; /* not a response, or not to an UPDATE */
	if (msg[2] & 0x02)
		return AT_E_PARSE; /* TC: it came over TCP */
	unsigned zo = get16(msg + 4), total = get16(msg + 6) + get16(msg + 8), ad = get16(msg + 10);
	total += ad;
	res->rcode = msg[3] & 0x0F;
	/* The zone section is echoed (or left out by a server that could not parse ours): ours or nothing. */
	if (zo > 1)
		return AT_E_PARSE;
	if (zo == 1) {
		if (at_dns_read_name(msg, len, &off, text) != 0 || off + 4 > len)
			return AT_E_PARSE;
		if (!name_eq(text, zone) || get16(msg + off) != AT_DNS_TYPE_SOA || get16(msg + off + 2) != CLASS_IN)
			return AT_E_PARSE;
		off += 4;
	}
	for (unsigned i = 0; i < total; i++) {
		size_t start = off;
		if (at_dns_read_name(msg, len, &off, text) != 0 || off + 10 > len)
			return AT_E_PARSE;
		unsigned type = get16(msg + off);
		size_t l = get16(msg + off + 8);
		if (off + 10 + l > len)
			return AT_E_PARSE;
		if (type == TYPE_TSIG) {
			/* Only as the very last record, in the additional section (RFC 8945 section 5.2). */
			if (i != total - 1 || ad == 0)
				return AT_E_PARSE;
			size_t o = start;
			if (read_plain_name(msg, len, &o, text) != 0 || !name_eq(text, key->name))
				return AT_E_PARSE;
			if (get16(msg + off + 2) != CLASS_ANY || get16(msg + off + 4) != 0 || get16(msg + off + 6) != 0)
				return AT_E_PARSE;
			has_tsig = 1;
			tsig_at = start;
			rd = off + 10;
			rdlen = l;
		}
		off += 10 + l;
	}
	if (off != len)
		return AT_E_PARSE; /* bytes after the last record */

	if (has_tsig) {
		size_t o = rd, end = rd + rdlen;
		if (read_plain_name(msg, end, &o, text) != 0 || o + 10 > end)
			return AT_E_PARSE;
		int same_alg = name_eq(text, alg_name(key->alg));
		uint64_t t = (uint64_t)get16(msg + o) << 32 | (uint64_t)get16(msg + o + 2) << 16 | get16(msg + o + 4);
		unsigned fudge = get16(msg + o + 6);
		size_t maclen = get16(msg + o + 8);
		o += 10;
		if (o + maclen + 6 > end)
			return AT_E_PARSE;
		const unsigned char *mac = msg + o;
		o += maclen;
		unsigned orig_id = get16(msg + o), error = get16(msg + o + 2);
		size_t other_len = get16(msg + o + 4);
		o += 6;
		if (o + other_len != end || orig_id != id)
			return AT_E_PARSE;
		res->tsig_error = (int)error;
		if (same_alg && maclen == alg_size(key->alg)) {
			/* Section 4.3.1: the request MAC (with its size first), the message as it was before the TSIG RR
			 * was added (ARCOUNT one less, the original ID), then the TSIG variables. */
			unsigned char head[HDR], pre[2], vars[600], calc[AT_TSIG_MAC_MAX];
			size_t vlen, clen;
			memcpy(head, msg, HDR);
			put16(head, orig_id);
			put16(head + 10, ad - 1);
			put16(pre, (unsigned)req_maclen);
			if (put_vars(vars, sizeof(vars), &vlen, key, t, fudge, error, msg + o - other_len, other_len) != 0)
				return AT_E_PARSE;
			struct part parts[] = { { pre, 2 }, { req_mac, req_maclen }, { head, HDR },
						{ msg + HDR, tsig_at - HDR }, { vars, vlen } };
			if (hmac_parts(key, parts, 5, calc, &clen) != 0)
				return AT_E_CRYPTO;
			res->signed_ok = CRYPTO_memcmp(calc, mac, clen) == 0;
			OPENSSL_cleanse(calc, sizeof(calc));
			if (res->signed_ok && (now > t ? now - t : t - now) > fudge)
				res->local_badtime = 1;
		}
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

int at_dns_find_zone(const char *server_ip, int port, const char *name, int timeout_ms, char *zone, size_t cap)
{
	size_t n;
	int rc;

	if (name == NULL || trim(name, &n) != 0)
		return AT_E_BADNAME;
	for (const char *p = name; p != NULL && *p != '\0' && *p != '.';) {
		int found = 0;
		rc = at_dns_is_zone(server_ip, port, p, timeout_ms, &found);
		if (rc != 0)
			return rc;
		if (found) {
			size_t l = strlen(p);
			if (l > 0 && p[l - 1] == '.')
				l--;
			if (l + 1 > cap)
				return AT_E_RANGE;
			memcpy(zone, p, l);
			zone[l] = '\0';
			return 0;
		}
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	return AT_E_NOTFOUND;
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
	r = malloc(MSG_MAX);
	if (r == NULL)
		return AT_E_NOMEM;
	rc = at_dns_tcp_exchange(server_ip, port, q, qlen, r, MSG_MAX, &rlen, timeout_ms);
	if (rc == 0)
		rc = at_dns_update_parse_response(r, rlen, id, zone, key, mac, maclen, (uint64_t)time(NULL), res);
	free(r);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}
