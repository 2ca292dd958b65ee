/*
 * The DNS message format (RFC 1035 section 4), the one place that writes and reads it: big-endian fields, names
 * (written uncompressed, read with compression), the query, and the header, question and records of an answer.
 * Everything in dns/ that builds or parses a message goes through here.
 *
 * Every byte of an answer is outside input: the readers check bounds before each read, follow compression
 * pointers only backwards and at most AT_DNS_MAX_JUMPS times, and refuse a name over 255 octets, a label over 63,
 * a record running past its RDLENGTH or the message, and an answer whose id, flags or question do not match what
 * was asked. Nothing here does I/O, allocates or keeps state.
 */
#ifndef AUTOTLS_DNS_WIRE_H
#define AUTOTLS_DNS_WIRE_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define AT_DNS_TYPE_A 1
#define AT_DNS_TYPE_NS 2
#define AT_DNS_TYPE_CNAME 5
#define AT_DNS_TYPE_SOA 6
#define AT_DNS_TYPE_TXT 16
#define AT_DNS_TYPE_AAAA 28
#define AT_DNS_TYPE_TSIG 250
#define AT_DNS_CLASS_IN 1
#define AT_DNS_CLASS_NONE 254
#define AT_DNS_CLASS_ANY 255
#define AT_DNS_RCODE_NXDOMAIN 3
#define AT_DNS_RCODE_NOTAUTH 9
#define AT_DNS_HDR 12          /* the fixed header */
#define AT_DNS_MSG_MAX 65535   /* the largest message either transport carries (a two-byte length caps both) */
#define AT_DNS_NAME_TEXT 254   /* a name as text: 253 characters and the NUL */
#define AT_DNS_MAX_JUMPS 16    /* compression pointers followed within one name */
#define AT_DNS_MAX_CNAMES 8    /* CNAME links followed within one answer */

/* Big-endian fields; p must have room (the callers check lengths first). */
static inline unsigned at_dns_get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static inline void at_dns_put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static inline void at_dns_put32(unsigned char *p, uint32_t v)
{
	at_dns_put16(p, v >> 16);
	at_dns_put16(p + 2, v & 0xFFFF);
}

/* ---- names as text ---- */

/* The length of name (any case, an optional final dot) without its final dot into *n. Returns 0, or
 * AT_E_BADNAME for the root, an empty name, one over 253 characters or one ending with two dots. */
int at_dns_name_len(const char *name, size_t *n) AT_MUST_CHECK;

/* given (any case, an optional final dot) names the same as read (as at_dns_read_name wrote it: lower case, no
 * final dot). */
int at_dns_name_eq(const char *given, const char *read);

/* name is zone or below it (either any case, with an optional final dot). The root holds nothing here. */
int at_dns_in_zone(const char *name, const char *zone);

/* 1 when name (lower case text, no final dot) is a host name: labels of letters, digits, '-' and '_'. */
int at_dns_host_ok(const char *name);

/* ---- writing ---- */

/*
 * Writes name (an optional final dot) uncompressed and in lower case, the canonical form (RFC 8945 section 4.3.3
 * wants it for TSIG's MAC; servers compare names without regard to case), at out[*off] (cap bytes in all) and
 * moves *off past it. Returns 0, AT_E_BADNAME (see at_dns_name_len; an empty label, one over 63 octets, a name
 * over 255 on the wire) or AT_E_RANGE (cap too small).
 */
int at_dns_put_name(unsigned char *out, size_t cap, size_t *off, const char *name) AT_MUST_CHECK;

/*
 * Writes a query for (name, qtype, class IN) with the given id and RD set into out (cap bytes); *len gets its
 * size. name may end with a dot. Returns 0, AT_E_BADNAME for a name that is not valid in DNS, or AT_E_RANGE when
 * cap is too small.
 */
int at_dns_build_query(unsigned char *out, size_t cap, size_t *len, const char *name, uint16_t id, uint16_t qtype)
	AT_MUST_CHECK;

/* ---- reading ---- */

/*
 * Reads the possibly compressed name at msg[*off] (the message is len bytes) into text (lower case, dots
 * between labels, no final dot; "" for the root) and moves *off past it. Returns 0 or AT_E_PARSE (past the end,
 * a forward or looping pointer, a label over 63 or a name over 255 octets, an extended label type).
 */
int at_dns_read_name(const unsigned char *msg, size_t len, size_t *off, char text[AT_DNS_NAME_TEXT]) AT_MUST_CHECK;

/* The header and question of an answer (at_dns_read_head): RCODE, AA, the three other section counts, the
 * question's name as read (lower case) and the offset of the first record after the question. */
struct at_dns_head {
	unsigned rcode;
	int aa;
	unsigned an, ns, ar;
	size_t off;
	char qname[AT_DNS_NAME_TEXT];
};

/* One resource record's fixed part (at_dns_read_rr): its RDATA is msg[rdoff .. rdoff + rdlen), inside the
 * message. */
struct at_dns_rr {
	char owner[AT_DNS_NAME_TEXT];
	unsigned type, klass;
	size_t rdoff, rdlen;
};

/*
 * Checks that msg (len bytes) is a response with the given id to a standard query holding exactly the one
 * question (name, qtype, IN), and fills *h. Returns 0, AT_E_TOOBIG when TC is set (ask again over TCP) or
 * AT_E_PARSE. The RCODE is left for the caller to judge.
 */
int at_dns_read_head(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
		     struct at_dns_head *h) AT_MUST_CHECK;

/*
 * As at_dns_read_head, then the RCODE judged the way every answer here is: NOERROR and NXDOMAIN are answers
 * (h->rcode tells which), any other (SERVFAIL, REFUSED, ...) is AT_E_NET. target (AT_DNS_NAME_TEXT) gets the
 * question's name as read, where at_dns_walk_answer starts.
 */
int at_dns_read_answer(const unsigned char *msg, size_t len, uint16_t id, const char *name, unsigned qtype,
		       struct at_dns_head *h, char *target) AT_MUST_CHECK;

/* Reads the record at msg[*off] into *rr and moves *off past its RDATA. Returns 0 or AT_E_PARSE (a bad owner
 * name, the fixed part or the RDATA running past len). */
int at_dns_read_rr(const unsigned char *msg, size_t len, size_t *off, struct at_dns_rr *rr) AT_MUST_CHECK;

/* The RDATA of rr (a CNAME or NS record of msg) as one name that fills it exactly, into text. 0 or AT_E_PARSE. */
int at_dns_read_rdata_name(const unsigned char *msg, const struct at_dns_rr *rr, char text[AT_DNS_NAME_TEXT])
	AT_MUST_CHECK;

/* 1 when the SOA RDATA at msg[off] (rdlen bytes) is two names followed by exactly five 32-bit values, else 0. */
int at_dns_soa_ok(const unsigned char *msg, size_t off, size_t rdlen);

/* What at_dns_walk_answer calls for each record of class IN that is not a link of the CNAME chain: the record,
 * the chain's end so far, and the caller's arg. Returns 0 or an error that stops the walk. */
typedef int (*at_dns_each_rr)(const unsigned char *msg, const struct at_dns_rr *rr, const char *target, void *arg);

/*
 * Reads the answer section of msg (h from at_dns_read_head): a CNAME record owned by target moves target
 * (AT_DNS_NAME_TEXT bytes, the question's name to start with) to its RDATA, at most AT_DNS_MAX_CNAMES times;
 * every other record of class IN goes to each(msg, rr, target, arg). *off ends after the section. Returns 0,
 * AT_E_PARSE (a bad record, a bad CNAME, too long a chain) or what each returned.
 */
int at_dns_walk_answer(const unsigned char *msg, size_t len, const struct at_dns_head *h, size_t *off, char *target,
		       at_dns_each_rr each, void *arg) AT_MUST_CHECK;

#endif
