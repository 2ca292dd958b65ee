/* TSIG (see tsig.h). RFC 8945 section 4 for the TSIG RR and its MAC, section 5 for the checks. */
#include "dns/tsig.h"
#include "dns/wire.h"
#include "util/err.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#define VARS_MAX 600 /* two names, ten fixed bytes and an Other Data field we never send */

static void put48(unsigned char *p, uint64_t v)
{
	at_dns_put16(p, (unsigned)(v >> 32) & 0xFFFF);
	at_dns_put32(p + 2, (uint32_t)v);
}

static uint64_t get48(const unsigned char *p)
{
	return (uint64_t)at_dns_get16(p) << 32 | (uint64_t)at_dns_get16(p + 2) << 16 | at_dns_get16(p + 4);
}

static const char *alg_name(enum at_tsig_alg alg)
{
	return alg == AT_TSIG_HMAC_SHA256 ? "hmac-sha256" : alg == AT_TSIG_HMAC_SHA512 ? "hmac-sha512" : NULL;
}

static size_t alg_size(enum at_tsig_alg alg)
{
	return alg == AT_TSIG_HMAC_SHA256 ? 32 : 64;
}

int at_tsig_key_ok(const struct at_tsig_key *key)
{
	return key != NULL && key->name != NULL && alg_name(key->alg) != NULL && key->secret != NULL &&
	       key->secret_len > 0;
}

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
	if ((rc = at_dns_put_name(v, cap, &off, key->name)) != 0)
		return rc;
	if (off + 6 > cap)
		return AT_E_RANGE;
	at_dns_put16(v + off, AT_DNS_CLASS_ANY);
	at_dns_put32(v + off + 2, 0);
	off += 6;
	if ((rc = at_dns_put_name(v, cap, &off, alg_name(key->alg))) != 0)
		return rc;
	if (off + 12 + other_len > cap)
		return AT_E_RANGE;
	put48(v + off, t);
	at_dns_put16(v + off + 6, fudge);
	at_dns_put16(v + off + 8, error);
	at_dns_put16(v + off + 10, (unsigned)other_len);
	off += 12;
	if (other_len > 0)
		memcpy(v + off, other, other_len);
	*len = off + other_len;
	return 0;
}

int at_tsig_sign(unsigned char *msg, size_t cap, size_t *len, const struct at_tsig_key *key, uint64_t time_signed,
		 unsigned char *mac, size_t *maclen)
{
	unsigned char vars[VARS_MAX];
	size_t vlen, off = *len;
	int rc;

	if (!at_tsig_key_ok(key) || *len < AT_DNS_HDR || time_signed >> 48)
		return AT_E_INVAL;
	if ((rc = put_vars(vars, sizeof(vars), &vlen, key, time_signed, AT_TSIG_FUDGE, 0, NULL, 0)) != 0)
		return rc;
	struct part parts[] = { { msg, *len }, { vars, vlen } };
	if ((rc = hmac_parts(key, parts, 2, mac, maclen)) != 0)
		return rc;
	/* The RR: NAME the key, TYPE TSIG, CLASS ANY, TTL 0, then RDATA (section 4.2). */
	if ((rc = at_dns_put_name(msg, cap, &off, key->name)) != 0)
		return rc;
	if (off + 10 > cap)
		return AT_E_RANGE;
	at_dns_put16(msg + off, AT_DNS_TYPE_TSIG);
	at_dns_put16(msg + off + 2, AT_DNS_CLASS_ANY);
	at_dns_put32(msg + off + 4, 0);
	size_t rdlen_at = off + 8;
	off += 10;
	if ((rc = at_dns_put_name(msg, cap, &off, alg_name(key->alg))) != 0)
		return rc;
	if (off + 10 + *maclen + 6 > cap)
		return AT_E_RANGE;
	put48(msg + off, time_signed);
	at_dns_put16(msg + off + 6, AT_TSIG_FUDGE);
	at_dns_put16(msg + off + 8, (unsigned)*maclen);
	off += 10;
	memcpy(msg + off, mac, *maclen);
	off += *maclen;
	at_dns_put16(msg + off, at_dns_get16(msg)); /* Original ID */
	at_dns_put16(msg + off + 2, 0);             /* Error */
	at_dns_put16(msg + off + 4, 0);             /* Other Len */
	off += 6;
	at_dns_put16(msg + rdlen_at, (unsigned)(off - rdlen_at - 2));
	at_dns_put16(msg + 10, at_dns_get16(msg + 10) + 1);
	*len = off;
	return 0;
}

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

int at_tsig_verify(const unsigned char *msg, size_t len, size_t at, const struct at_tsig_key *key,
		   const unsigned char *req_mac, size_t req_maclen, uint64_t now, struct at_tsig_check *out)
{
	char text[AT_DNS_NAME_TEXT];
	size_t o = at;

	memset(out, 0, sizeof(*out));
	if (!at_tsig_key_ok(key) || req_maclen > AT_TSIG_MAC_MAX)
		return AT_E_INVAL;
	if (len < AT_DNS_HDR || at < AT_DNS_HDR || at >= len || at_dns_get16(msg + 10) == 0)
		return AT_E_PARSE;
	/* The RR's fixed part: the key's name, TYPE TSIG, CLASS ANY, TTL 0 (section 4.2). */
	if (read_plain_name(msg, len, &o, text) != 0 || !at_dns_name_eq(key->name, text) || o + 10 > len)
		return AT_E_PARSE;
	if (at_dns_get16(msg + o) != AT_DNS_TYPE_TSIG || at_dns_get16(msg + o + 2) != AT_DNS_CLASS_ANY ||
	    at_dns_get16(msg + o + 4) != 0 || at_dns_get16(msg + o + 6) != 0)
		return AT_E_PARSE;
	size_t end = o + 10 + at_dns_get16(msg + o + 8);
	if (end != len)
		return AT_E_PARSE;
	/* RDATA: algorithm name, time signed, fudge, MAC size and MAC, original id, error, other data. */
	o += 10;
	if (read_plain_name(msg, end, &o, text) != 0 || o + 10 > end)
		return AT_E_PARSE;
	int same_alg = at_dns_name_eq(alg_name(key->alg), text);
	uint64_t t = get48(msg + o);
	unsigned fudge = at_dns_get16(msg + o + 6);
	size_t maclen = at_dns_get16(msg + o + 8);
	o += 10;
	if (o + maclen + 6 > end)
		return AT_E_PARSE;
	const unsigned char *mac = msg + o;
	o += maclen;
	unsigned orig_id = at_dns_get16(msg + o), error = at_dns_get16(msg + o + 2);
	size_t other_len = at_dns_get16(msg + o + 4);
	o += 6;
	if (o + other_len != end || orig_id != at_dns_get16(msg))
		return AT_E_PARSE;
	out->error = (int)error;
	if (!same_alg || maclen != alg_size(key->alg))
		return 0; /* unsigned, or signed some other way: not by us */
	/* Section 4.3.1: the request MAC (with its size first), the message as it was before the TSIG RR was added
	 * (ARCOUNT one less, the original ID), then the TSIG variables. */
	unsigned char head[AT_DNS_HDR], pre[2], vars[VARS_MAX], calc[AT_TSIG_MAC_MAX];
	size_t vlen, clen;
	memcpy(head, msg, AT_DNS_HDR);
	at_dns_put16(head, orig_id);
	at_dns_put16(head + 10, at_dns_get16(msg + 10) - 1);
	at_dns_put16(pre, (unsigned)req_maclen);
	if (put_vars(vars, sizeof(vars), &vlen, key, t, fudge, error, msg + o - other_len, other_len) != 0)
		return AT_E_PARSE;
	struct part parts[] = { { pre, 2 }, { req_mac, req_maclen }, { head, AT_DNS_HDR },
				{ msg + AT_DNS_HDR, at - AT_DNS_HDR }, { vars, vlen } };
	if (hmac_parts(key, parts, 5, calc, &clen) != 0)
		return AT_E_CRYPTO;
	out->signed_ok = CRYPTO_memcmp(calc, mac, clen) == 0;
	OPENSSL_cleanse(calc, sizeof(calc));
	if (out->signed_ok && (now > t ? now - t : t - now) > fudge)
		out->local_badtime = 1;
	return 0;
}
