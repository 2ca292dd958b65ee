/*
 * RFC 2136 + TSIG (dns/update.c, dns/tsig.c): the UPDATE's bytes for a known input, with the TSIG MAC computed here
 * independently (OpenSSL's one-shot HMAC over the message and the TSIG variables, RFC 8945 section 4.3.3), for
 * both algorithms and both verbs; and the answer parser from a table of answers built and signed here: good
 * ones, error answers (BADSIG, BADKEY, BADTIME, NOTAUTH, REFUSED) and hostile ones (forged or missing MAC, a
 * TSIG not last or compressed, another key or algorithm, a stale time, cut or trailing bytes, another zone).
 */
#include "tests/harness/dns_msg.h"
#include "tests/test.h"
#include "dns/update.h"
#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
static const struct at_tsig_key key256 = { AT_TSIG_HMAC_SHA256, "Acme-Key.", secret, 32 };
static const struct at_tsig_key key512 = { AT_TSIG_HMAC_SHA512, "acme-key", secret, 32 };
#define T0 1700000000ULL

/* A name as length-prefixed labels written out by hand ("\x08acme-key\x00" etc.): the expected bytes spelled out,
 * lower case as the encoder must write them. */
#define NAME(b, lit) dns_msg_put((b), (lit), sizeof(lit) - 1)
#define ZONE_W "\x07" "example" "\x04" "test" "\x00"
#define OWNER_W "\x0f" "_acme-challenge" "\x03" "www" "\x07" "example" "\x04" "test" "\x00"
#define KEY_W "\x08" "acme-key" "\x00"
#define ALG256_W "\x0b" "hmac-sha256" "\x00"
#define ALG512_W "\x0b" "hmac-sha512" "\x00"

/* The TSIG variables, by hand. */
static void vars(struct dns_msg *v, int sha512, uint64_t t, unsigned fudge, unsigned error)
{
	v->n = 0;
	NAME(v, KEY_W);
	dns_msg_u16(v, 255);
	dns_msg_u32(v, 0);
	if (sha512)
		NAME(v, ALG512_W);
	else
		NAME(v, ALG256_W);
	dns_msg_u48(v, t);
	dns_msg_u16(v, fudge);
	dns_msg_u16(v, error);
	dns_msg_u16(v, 0);
}

static void hmac(int sha512, const struct dns_msg *parts, size_t n, unsigned char *mac, unsigned *maclen)
{
	struct dns_msg all = { .n = 0 };
	for (size_t i = 0; i < n; i++)
		dns_msg_put(&all, parts[i].b, parts[i].n);
	HMAC(sha512 ? EVP_sha512() : EVP_sha256(), secret, 32, all.b, all.n, mac, maclen);
}

static void message_bytes(int sha512, int add_rr)
{
	unsigned char out[2048], mac[64], emac[64];
	size_t len, maclen;
	unsigned emaclen;
	const struct at_tsig_key *k = sha512 ? &key512 : &key256;
	const char *value = "Xy-_0123456789abcdefghijklmnopqrstuvwxyzABCD"; /* 44 bytes */

	REQUIRE(at_dns_update_build(out, sizeof(out), &len, 0xBEEF, "Example.Test.", "_acme-challenge.WWW.example.test",
				    value, add_rr) == 0);
	/* RFC 2136 section 2: header, zone, no prerequisite, the update RR. */
	struct dns_msg e = { .n = 0 };
	dns_msg_u16(&e, 0xBEEF);
	dns_msg_u16(&e, 0x2800); /* opcode 5 */
	dns_msg_u16(&e, 1);
	dns_msg_u16(&e, 0);
	dns_msg_u16(&e, 1);
	dns_msg_u16(&e, 0);
	NAME(&e, ZONE_W);
	dns_msg_u16(&e, 6);
	dns_msg_u16(&e, 1);
	NAME(&e, OWNER_W);
	dns_msg_u16(&e, 16);
	dns_msg_u16(&e, add_rr ? 1 : 254);
	dns_msg_u32(&e, add_rr ? 60 : 0);
	dns_msg_u16(&e, 45);
	dns_msg_u8(&e, 44);
	dns_msg_put(&e, value, 44);
	CHECK_INT(len, ==, e.n);
	CHECK(len == e.n && memcmp(out, e.b, len) == 0);

	REQUIRE(at_tsig_sign(out, sizeof(out), &len, k, T0, mac, &maclen) == 0);
	struct dns_msg parts[2] = { e, { .n = 0 } };
	vars(&parts[1], sha512, T0, 300, 0);
	hmac(sha512, parts, 2, emac, &emaclen);
	CHECK_INT(maclen, ==, emaclen);
	CHECK(memcmp(mac, emac, emaclen) == 0);
	/* ARCOUNT 1, then the TSIG RR. */
	e.b[11] = 1;
	NAME(&e, KEY_W);
	dns_msg_u16(&e, 250);
	dns_msg_u16(&e, 255);
	dns_msg_u32(&e, 0);
	dns_msg_u16(&e, 13 + 10 + emaclen + 6);
	if (sha512)
		NAME(&e, ALG512_W);
	else
		NAME(&e, ALG256_W);
	dns_msg_u48(&e, T0);
	dns_msg_u16(&e, 300);
	dns_msg_u16(&e, emaclen);
	dns_msg_put(&e, emac, emaclen);
	dns_msg_u16(&e, 0xBEEF);
	dns_msg_u16(&e, 0);
	dns_msg_u16(&e, 0);
	CHECK_INT(len, ==, e.n);
	CHECK(len == e.n && memcmp(out, e.b, len) == 0);
}

static void message_add_sha256(void)
{
	message_bytes(0, 1);
}
static void message_delete_sha512(void)
{
	message_bytes(1, 0);
}

static void build_refusals(void)
{
	unsigned char out[2048], mac[64];
	size_t len, maclen;
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(at_dns_update_build(out, sizeof(out), &len, 1, "example.test", "_acme-challenge.other.test", "v", 1),
		  ==, AT_E_BADNAME);
	CHECK_INT(at_dns_update_build(out, sizeof(out), &len, 1, "example.test", "_acme-challenge.xexample.test", "v",
				      1), ==, AT_E_BADNAME);
	CHECK_INT(at_dns_update_build(out, sizeof(out), &len, 1, "example.test", "a..example.test", "v", 1), ==,
		  AT_E_BADNAME);
	CHECK_INT(at_dns_update_build(out, sizeof(out), &len, 1, "example.test", "_acme-challenge.example.test", big, 1),
		  ==, AT_E_INVAL);
	CHECK_INT(at_dns_update_build(out, 40, &len, 1, "example.test", "_acme-challenge.example.test", "v", 1), ==,
		  AT_E_RANGE);
	/* A 300-byte value goes as two character-strings, 255 and 45. */
	char v300[301];
	memset(v300, 'b', 300);
	v300[300] = '\0';
	REQUIRE(at_dns_update_build(out, sizeof(out), &len, 1, "example.test", "x.example.test", v300, 1) == 0);
	CHECK_INT(out[len - 302 - 2] << 8 | out[len - 302 - 1], ==, 302);
	CHECK_INT(out[len - 302], ==, 255);
	CHECK_INT(out[len - 46], ==, 45);
	/* Signing needs room. */
	REQUIRE(at_dns_update_build(out, sizeof(out), &len, 1, "example.test", "x.example.test", "v", 1) == 0);
	CHECK_INT(at_tsig_sign(out, len + 20, &len, &key256, T0, mac, &maclen), ==, AT_E_RANGE);
}

/* ---- answers ---- */

enum { F_NONE = 0, F_NO_TSIG = 1, F_BAD_MAC = 2, F_MAC_EMPTY = 4, F_KEY_OTHER = 8, F_ALG_OTHER = 16,
       F_COMPRESS_KEY = 32, F_TRAILING = 64, F_TSIG_NOT_LAST = 128, F_ZONE_OTHER = 256, F_ZONE_TWO = 512,
       F_OPCODE_QUERY = 1024, F_NOT_RESPONSE = 2048, F_WRONG_ID = 4096, F_CUT = 8192, F_ORIG_ID = 16384,
       F_RDLEN_LONG = 32768, F_NO_ZONE = 65536 };

struct row {
	const char *what;
	unsigned rcode, tsig_error;
	uint64_t time;
	unsigned flags;
	int rc;
	int res_tsig_error;
	int signed_ok;
};

static const unsigned char req_mac[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
					   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

/* An answer to id 0x4242 for zone example.test, signed with key256 (as flags change). */
static void answer(struct dns_msg *m, const struct row *r)
{
	struct dns_msg body = { .n = 0 };
	unsigned ad = (r->flags & F_NO_TSIG) ? 0 : 1;
	unsigned zo = (r->flags & F_ZONE_TWO) ? 2 : (r->flags & F_NO_ZONE) ? 0 : 1;
	if (r->flags & F_TSIG_NOT_LAST)
		ad = 2;
	dns_msg_u16(&body, 0x4242);
	dns_msg_u16(&body, ((r->flags & F_NOT_RESPONSE) ? 0 : 0x8000) | ((r->flags & F_OPCODE_QUERY) ? 0 : 0x2800) |
			     r->rcode);
	dns_msg_u16(&body, zo);
	dns_msg_u16(&body, 0);
	dns_msg_u16(&body, 0);
	dns_msg_u16(&body, ad - ((r->flags & F_NO_TSIG) ? 0 : 1)); /* ARCOUNT before the TSIG: what the MAC covers */
	for (unsigned i = 0; i < zo; i++) {
		if (r->flags & F_ZONE_OTHER)
			NAME(&body, "\x07" "example" "\x03" "org" "\x00");
		else
			NAME(&body, ZONE_W);
		dns_msg_u16(&body, 6);
		dns_msg_u16(&body, 1);
	}
	m->n = 0;
	dns_msg_put(m, body.b, body.n);
	if (r->flags & F_NO_TSIG)
		return;
	/* The MAC: request MAC, the message without the TSIG, the variables (section 4.3.1). */
	struct dns_msg pre = { .n = 0 }, v;
	unsigned char mac[64];
	unsigned maclen = 0;
	dns_msg_u16(&pre, 32);
	dns_msg_put(&pre, req_mac, 32);
	vars(&v, 0, r->time, 300, r->tsig_error);
	struct dns_msg parts[3] = { pre, body, v };
	hmac(0, parts, 3, mac, &maclen);
	if (r->flags & F_BAD_MAC)
		mac[5] ^= 0x40;
	if (r->flags & F_MAC_EMPTY)
		maclen = 0;
	m->b[11] = (unsigned char)ad;
	if (r->flags & F_TSIG_NOT_LAST) {
		/* the TSIG first, an A record after it */
	}
	if (r->flags & F_COMPRESS_KEY)
		NAME(m, "\x08" "acme-key" "\xC0\x0C"); /* "acme-key" + a pointer to the zone name */
	else if (r->flags & F_KEY_OTHER)
		NAME(m, "\x08" "acme-kez" "\x00");
	else
		NAME(m, KEY_W);
	dns_msg_u16(m, 250);
	dns_msg_u16(m, 255);
	dns_msg_u32(m, 0);
	dns_msg_u16(m, 13 + 10 + maclen + 6 + ((r->flags & F_RDLEN_LONG) ? 40 : 0));
	if (r->flags & F_ALG_OTHER)
		NAME(m, ALG512_W);
	else
		NAME(m, ALG256_W);
	dns_msg_u48(m, r->time);
	dns_msg_u16(m, 300);
	dns_msg_u16(m, maclen);
	dns_msg_put(m, mac, maclen);
	dns_msg_u16(m, (r->flags & F_ORIG_ID) ? 0x4243 : 0x4242);
	dns_msg_u16(m, r->tsig_error);
	dns_msg_u16(m, 0);
	if (r->flags & F_TSIG_NOT_LAST) {
		NAME(m, ZONE_W);
		dns_msg_u16(m, 1);
		dns_msg_u16(m, 1);
		dns_msg_u32(m, 60);
		dns_msg_u16(m, 4);
		dns_msg_u32(m, 0x7F000001);
	}
	if (r->flags & F_TRAILING)
		dns_msg_u8(m, 0);
	if (r->flags & F_CUT)
		m->n -= 7;
	if (r->flags & F_WRONG_ID)
		m->b[1] ^= 1;
}

static const struct row rows[] = {
	{ "NOERROR, signed", 0, 0, T0, F_NONE, 0, 0, 1 },
	{ "NOERROR, zone section left out", 0, 0, T0, F_NO_ZONE, 0, 0, 1 },
	{ "NOERROR, time at the edge of the fudge", 0, 0, T0 - 300, F_NONE, 0, 0, 1 },
	{ "NOERROR, unsigned", 0, 0, T0, F_NO_TSIG, AT_E_CRYPTO, 0, 0 },
	{ "NOERROR, forged MAC", 0, 0, T0, F_BAD_MAC, AT_E_CRYPTO, 0, 0 },
	{ "NOERROR, empty MAC", 0, 0, T0, F_MAC_EMPTY, AT_E_CRYPTO, 0, 0 },
	{ "NOERROR, another key", 0, 0, T0, F_KEY_OTHER, AT_E_PARSE, 0, 0 },
	{ "NOERROR, another algorithm", 0, 0, T0, F_ALG_OTHER, AT_E_CRYPTO, 0, 0 },
	{ "NOERROR, stale time", 0, 0, T0 - 301, F_NONE, AT_E_CRYPTO, 0, 1 },
	{ "NOERROR, time ahead", 0, 0, T0 + 3600, F_NONE, AT_E_CRYPTO, 0, 1 },
	{ "NOERROR with a TSIG error", 0, AT_TSIG_BADTIME, T0, F_NONE, AT_E_CRYPTO, AT_TSIG_BADTIME, 1 },
	{ "NOTAUTH/BADSIG, unsigned TSIG", 9, AT_TSIG_BADSIG, T0, F_MAC_EMPTY, AT_E_NET, AT_TSIG_BADSIG, 0 },
	{ "NOTAUTH/BADKEY, unsigned TSIG", 9, AT_TSIG_BADKEY, T0, F_MAC_EMPTY, AT_E_NET, AT_TSIG_BADKEY, 0 },
	{ "NOTAUTH/BADTIME, signed", 9, AT_TSIG_BADTIME, T0 + 1000, F_NONE, AT_E_NET, AT_TSIG_BADTIME, 1 },
	{ "NOTAUTH, no TSIG", 9, 0, T0, F_NO_TSIG, AT_E_NET, 0, 0 },
	{ "REFUSED, no TSIG", 5, 0, T0, F_NO_TSIG, AT_E_NET, 0, 0 },
	{ "SERVFAIL, signed", 2, 0, T0, F_NONE, AT_E_NET, 0, 1 },
	{ "TSIG owner compressed", 0, 0, T0, F_COMPRESS_KEY, AT_E_PARSE, 0, 0 },
	{ "TSIG not the last record", 0, 0, T0, F_TSIG_NOT_LAST, AT_E_PARSE, 0, 0 },
	{ "bytes after the last record", 0, 0, T0, F_TRAILING, AT_E_PARSE, 0, 0 },
	{ "cut in the TSIG", 0, 0, T0, F_CUT, AT_E_PARSE, 0, 0 },
	{ "TSIG RDLENGTH past the end", 0, 0, T0, F_RDLEN_LONG, AT_E_PARSE, 0, 0 },
	{ "another original id", 0, 0, T0, F_ORIG_ID, AT_E_PARSE, 0, 0 },
	{ "another zone", 0, 0, T0, F_ZONE_OTHER, AT_E_PARSE, 0, 0 },
	{ "two zones", 0, 0, T0, F_ZONE_TWO, AT_E_PARSE, 0, 0 },
	{ "a QUERY answer", 0, 0, T0, F_OPCODE_QUERY, AT_E_PARSE, 0, 0 },
	{ "not a response", 0, 0, T0, F_NOT_RESPONSE, AT_E_PARSE, 0, 0 },
	{ "wrong id", 0, 0, T0, F_WRONG_ID, AT_E_PARSE, 0, 0 },
};

static void answers_table(void)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct dns_msg m;
		struct at_dns_update_result res;
		answer(&m, &rows[i]);
		int rc = at_dns_update_parse_response(m.b, m.n, 0x4242, "example.test.", &key256, req_mac, 32, T0, &res);
		int bad = rc != rows[i].rc;
		if (!bad && rc != AT_E_PARSE)
			bad = res.tsig_error != rows[i].res_tsig_error || res.signed_ok != rows[i].signed_ok ||
			      res.rcode != (int)rows[i].rcode;
		if (bad)
			fprintf(stderr, "  row \"%s\": rc %d (want %d), tsig error %d, signed %d, rcode %d\n", rows[i].what,
				rc, rows[i].rc, res.tsig_error, res.signed_ok, res.rcode);
		CHECK(!bad);
		/* Every prefix of the answer is refused without reading past it (but the good answer that the row
		 * with a trailing byte extends). */
		for (size_t n = 0; n < m.n - ((rows[i].flags & F_TRAILING) ? 1 : 0); n++) {
			unsigned char *cut = malloc(n ? n : 1);
			memcpy(cut, m.b, n);
			int crc = at_dns_update_parse_response(cut, n, 0x4242, "example.test", &key256, req_mac, 32, T0,
							       &res);
			if (crc == 0)
				fprintf(stderr, "  row \"%s\": its first %zu bytes parse\n", rows[i].what, n);
			CHECK(crc != 0);
			free(cut);
		}
	}
	/* The request MAC is chained in: another one fails the same answer. */
	struct dns_msg m;
	struct at_dns_update_result res;
	unsigned char other[32];
	memcpy(other, req_mac, 32);
	other[0] ^= 1;
	answer(&m, &rows[0]);
	CHECK_INT(at_dns_update_parse_response(m.b, m.n, 0x4242, "example.test", &key256, other, 32, T0, &res), ==,
		  AT_E_CRYPTO);
}

static void error_texts(void)
{
	struct at_dns_update_result r = { .rcode = 9, .tsig_error = AT_TSIG_BADSIG };
	CHECK(strncmp(at_dns_update_strerror(&r), "BADSIG", 6) == 0);
	r.tsig_error = AT_TSIG_BADKEY;
	CHECK(strncmp(at_dns_update_strerror(&r), "BADKEY", 6) == 0);
	r.tsig_error = AT_TSIG_BADTIME;
	CHECK(strncmp(at_dns_update_strerror(&r), "BADTIME", 7) == 0);
	r.tsig_error = 0;
	CHECK(strncmp(at_dns_update_strerror(&r), "NOTAUTH", 7) == 0);
	r.rcode = 5;
	CHECK(strncmp(at_dns_update_strerror(&r), "REFUSED", 7) == 0);
	r.rcode = 15;
	CHECK(at_dns_update_strerror(&r) != NULL);
}

int main(void)
{
	RUN(message_add_sha256);
	RUN(message_delete_sha512);
	RUN(build_refusals);
	RUN(answers_table);
	RUN(error_texts);
	return TEST_EXIT();
}
