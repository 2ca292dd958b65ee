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

#define AT_DNS_TYPE_CNAME 5
#define AT_DNS_TYPE_TXT 16
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

/*
 * Asks server_ip (an IPv4 or IPv6 literal) at port whether name has a TXT record equal to value: one query over
 * UDP (a random id, RD set; answers with another id are ignored), over TCP when the answer is truncated, within
 * timeout_ms in all. Returns 0 and sets *found, or AT_E_INVAL (bad address), AT_E_BADNAME, AT_E_TIMEOUT,
 * AT_E_NET, AT_E_PARSE.
 */
int at_dns_txt_has(const char *server_ip, int port, const char *name, const char *value, int timeout_ms,
		   int *found) __attribute__((warn_unused_result));

/*
 * The first "nameserver" line of resolv_conf (NULL: /etc/resolv.conf) into ip (cap bytes, an IP literal without
 * a zone index). Returns 0 or AT_E_NOTFOUND.
 */
int at_dns_system_resolver(char *ip, size_t cap, const char *resolv_conf) __attribute__((warn_unused_result));

#endif
