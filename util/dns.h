/*
 * A minimal DNS client (RFC 1035) for one question: "does this TXT record hold this value yet?", which a DNS-01
 * solver asks before it tells the CA to validate. One query over UDP to one server, retried over TCP when the
 * answer comes back truncated (RFC 7766 section 5); no recursion of its own, no cache, no EDNS.
 *
 * Every byte of an answer is outside input: the parser checks bounds before each read, follows compression
 * pointers only backwards and at most AT_DNS_MAX_JUMPS times, and refuses a name over 255 octets, a label over
 * 63, a record running past its RDLENGTH or the message, and an answer whose id, flags or question do not match
 * what was asked. It blocks (up to the timeout given): never call it on a server thread.
 */
#ifndef AUTOTLS_UTIL_DNS_H
#define AUTOTLS_UTIL_DNS_H

#include <stddef.h>
#include <stdint.h>

#define AT_DNS_TYPE_A 1
#define AT_DNS_TYPE_NS 2
#define AT_DNS_TYPE_CNAME 5
#define AT_DNS_TYPE_SOA 6
#define AT_DNS_TYPE_TXT 16
#define AT_DNS_TYPE_AAAA 28
#define AT_DNS_NAME_TEXT 254  /* a name as text: 253 characters and the NUL */
#define AT_DNS_MAX_JUMPS 16   /* compression pointers followed within one name */
#define AT_DNS_MAX_CNAMES 8   /* CNAME links followed within one answer */

/*
 * Writes a query for (name, qtype, class IN) with the given id and RD set into out (cap bytes); *len gets its
 * size. name may end with a dot. Returns 0, AT_E_BADNAME for a name that is not valid in DNS, or AT_E_RANGE when
 * cap is too small.
 */
int at_dns_build_query(unsigned char *out, size_t cap, size_t *len, const char *name, uint16_t id, uint16_t qtype)
	__attribute__((warn_unused_result));

/*
 * Parses msg (len bytes), the answer to a TXT query for name with the given id. On success returns 0 and sets
 * *found to 1 when a TXT record of name (or of the end of a CNAME chain from name) has value as the
 * concatenation of its character-strings, else 0 (also for NXDOMAIN). When the server set TC (truncated),
 * returns AT_E_TOOBIG with *found untouched: ask again over TCP. Returns AT_E_PARSE for a malformed or
 * mismatched answer (wrong id, not a response, another question), AT_E_NET for a server failure (SERVFAIL,
 * REFUSED, ...). Borrows everything.
 */
int at_dns_parse_txt(const unsigned char *msg, size_t len, uint16_t id, const char *name, const char *value,
		     int *found) __attribute__((warn_unused_result));

/* As at_dns_parse_txt, for the answer to an SOA query for name: *found is 1 when the answer section holds a
 * well-formed SOA record owned by name itself (name is a zone apex at that server), else 0 (also NXDOMAIN). */
int at_dns_parse_soa(const unsigned char *msg, size_t len, uint16_t id, const char *name, int *found)
	__attribute__((warn_unused_result));

/*
 * Reads the possibly compressed name at msg[*off] (the message is len bytes) into text (lower case, dots
 * between labels, no final dot; "" for the root) and moves *off past it. Returns 0 or AT_E_PARSE (past the end,
 * a forward or looping pointer, a label over 63 or a name over 255 octets, an extended label type).
 */
int at_dns_read_name(const unsigned char *msg, size_t len, size_t *off, char text[AT_DNS_NAME_TEXT])
	__attribute__((warn_unused_result));

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
		     struct at_dns_head *h) __attribute__((warn_unused_result));

/* Reads the record at msg[*off] into *rr and moves *off past its RDATA. Returns 0 or AT_E_PARSE (a bad owner
 * name, the fixed part or the RDATA running past len). */
int at_dns_read_rr(const unsigned char *msg, size_t len, size_t *off, struct at_dns_rr *rr)
	__attribute__((warn_unused_result));

/* The RDATA of rr (a CNAME or NS record of msg) as one name that fills it exactly, into text. 0 or AT_E_PARSE. */
int at_dns_read_rdata_name(const unsigned char *msg, const struct at_dns_rr *rr, char text[AT_DNS_NAME_TEXT])
	__attribute__((warn_unused_result));

/* 1 when the SOA RDATA at msg[off] (rdlen bytes) is two names followed by exactly five 32-bit values, else 0. */
int at_dns_soa_ok(const unsigned char *msg, size_t off, size_t rdlen);

/* A query ID from the kernel's random source (RFC 5452 section 9.2: unpredictable IDs against spoofing). */
uint16_t at_dns_new_id(void);

/*
 * Sends one query for (name, qtype, IN) to server_ip:port with a random id, RD set when rd is nonzero (RFC 1035
 * section 4.1.1; an authoritative server is asked with RD clear), over UDP and again over TCP when the answer is
 * truncated, within timeout_ms in all. Datagrams that are not a response with that id are ignored. The answer
 * goes into r (cap bytes), *rlen its size, *id the id to check it with. Returns 0, AT_E_INVAL (bad address),
 * AT_E_BADNAME, AT_E_TIMEOUT, AT_E_NET (unreachable, refused), AT_E_TOOBIG, AT_E_PARSE or AT_E_NOMEM. The
 * answer is not parsed: see at_dns_read_head.
 */
int at_dns_exchange(const char *server_ip, int port, const char *name, uint16_t qtype, int rd, unsigned char *r,
		    size_t cap, size_t *rlen, uint16_t *id, int timeout_ms) __attribute__((warn_unused_result));

/*
 * Asks server_ip (an IPv4 or IPv6 literal) at port whether name has a TXT record equal to value: one query over
 * UDP (a random id, RD set; answers with another id are ignored), over TCP when the answer is truncated, within
 * timeout_ms in all. Returns 0 and sets *found, or AT_E_INVAL (bad address), AT_E_BADNAME, AT_E_TIMEOUT,
 * AT_E_NET, AT_E_PARSE.
 */
int at_dns_txt_has(const char *server_ip, int port, const char *name, const char *value, int timeout_ms,
		   int *found) __attribute__((warn_unused_result));

/* As at_dns_txt_has, with an SOA query: *found is 1 when name is a zone apex at that server. */
int at_dns_is_zone(const char *server_ip, int port, const char *name, int timeout_ms, int *found)
	__attribute__((warn_unused_result));

/*
 * Sends the message q (qlen bytes) to server_ip:port over TCP (RFC 1035 section 4.2.2, a two-byte length
 * first) and reads one message back into r (cap bytes), *rlen its size, within timeout_ms. Does not look at the
 * bytes either way. Returns 0, AT_E_INVAL, AT_E_NET, AT_E_TIMEOUT, AT_E_TOOBIG (the answer is over cap) or
 * AT_E_NOMEM. Borrows everything.
 */
int at_dns_tcp_exchange(const char *server_ip, int port, const unsigned char *q, size_t qlen, unsigned char *r,
			size_t cap, size_t *rlen, int timeout_ms) __attribute__((warn_unused_result));

/*
 * The first "nameserver" line of resolv_conf (NULL: /etc/resolv.conf) into ip (cap bytes, an IP literal without
 * a zone index). Returns 0 or AT_E_NOTFOUND.
 */
int at_dns_system_resolver(char *ip, size_t cap, const char *resolv_conf) __attribute__((warn_unused_result));

#endif
