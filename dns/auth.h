/*
 * The authoritative servers of the zone that holds a name, found through a recursive resolver, and the TXT
 * question put to each of them directly; for DNS-01, whose record must be visible at every authoritative server
 * before the CA is told to look (RFC 8555 section 8.4: the CA may ask any of them). The way certbot's, lego's and
 * CertMagic's checks do it:
 *
 *   1. the zone: dns/zone.h's search at the resolver, a CNAME chain from the name followed (a challenge
 *      delegated to another zone is then checked under the chain's end);
 *   2. the zone's NS set at the resolver (RFC 1035 section 3.3.11), at most AT_DNS_AUTH_MAX_SERVERS names,
 *      with the addresses the additional section carries (RFC 1035 section 4.1);
 *   3. A and AAAA queries at the resolver for the names that came without addresses, at most
 *      AT_DNS_AUTH_MAX_ADDRS addresses in all.
 *
 * Every byte is outside input and read with the strict readers of dns/wire.h. Names must be host names
 * (letters, digits, '-', '_'); addresses must be ones a query can go to (not unspecified, multicast or
 * link-local). It blocks, within the timeout given: never on a server thread.
 */
#ifndef AUTOTLS_DNS_AUTH_H
#define AUTOTLS_DNS_AUTH_H

#include "dns/wire.h"
#include "util/err.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define AT_DNS_AUTH_MAX_SERVERS 8
#define AT_DNS_AUTH_MAX_ADDRS 16
#define AT_DNS_AUTH_IP_TEXT INET6_ADDRSTRLEN

struct at_dns_auth_addr {
	char ip[AT_DNS_AUTH_IP_TEXT];
	size_t server; /* index into ns[] */
};

struct at_dns_auth {
	char zone[AT_DNS_NAME_TEXT]; /* the zone, lower case, no final dot */
	char name[AT_DNS_NAME_TEXT]; /* the name to ask its servers for: the name given or its CNAME chain's end */
	char ns[AT_DNS_AUTH_MAX_SERVERS][AT_DNS_NAME_TEXT];
	size_t nns;
	struct at_dns_auth_addr addr[AT_DNS_AUTH_MAX_ADDRS];
	size_t naddr;
};

/* What one authoritative server said to the TXT question (at_dns_auth_txt). */
enum at_dns_auth_answer {
	AT_DNS_AUTH_SHOWS = 1,  /* a TXT record of the name holds the value */
	AT_DNS_AUTH_MISSING,    /* not (yet): no such value, NODATA or NXDOMAIN */
	AT_DNS_AUTH_NOT_AUTH,   /* answered without AA: it does not serve the zone (a lame delegation) */
	AT_DNS_AUTH_RCODE,      /* answered with an error RCODE (REFUSED, SERVFAIL, ...) */
};

/* ---- parsers (dns/auth_parse.c); each borrows msg and checks id and question as at_dns_read_head ---- */

/*
 * The answer to an NS query for zone: sets out->nns and out->ns[] to the names of the NS records owned by zone
 * (duplicates and names that are not host names left out, the first AT_DNS_AUTH_MAX_SERVERS kept) and
 * out->addr[] to the A and AAAA records of the additional section owned by one of them (duplicates and unusable
 * addresses left out, at most AT_DNS_AUTH_MAX_ADDRS); out->zone and out->name are untouched. Returns 0 (nns may
 * be 0), AT_E_NOTFOUND for NXDOMAIN, AT_E_NET for another error RCODE, AT_E_TOOBIG or AT_E_PARSE.
 */
int at_dns_parse_ns(const unsigned char *msg, size_t len, uint16_t id, const char *zone, struct at_dns_auth *out)
	AT_MUST_CHECK;

/*
 * The answer to an A or AAAA query (qtype) for host, the name of out->ns[server]: appends the addresses of that
 * type owned by host or by the end of a CNAME chain from it to out->addr (tagged with server; duplicates and
 * unusable addresses left out, none past AT_DNS_AUTH_MAX_ADDRS). Returns 0 (also NXDOMAIN), AT_E_NET,
 * AT_E_TOOBIG or AT_E_PARSE (also for an A record whose RDATA is not 4 bytes, an AAAA not 16). On an error
 * out->addr is as it was.
 */
int at_dns_parse_addrs(const unsigned char *msg, size_t len, uint16_t id, const char *host, unsigned qtype,
		       size_t server, struct at_dns_auth *out) AT_MUST_CHECK;

/* ---- lookups (dns/auth.c) ---- */

/*
 * Fills *out with the zone holding name and its authoritative servers, asking the recursive resolver at
 * resolver_ip:port (steps 1 to 3 above), within timeout_ms in all. Returns 0 (at least one address), AT_E_NOTFOUND
 * (no zone below the root, no NS records, or no address for any of them), or the error of the query that
 * stopped it (AT_E_TIMEOUT, AT_E_NET, AT_E_PARSE, AT_E_BADNAME, ...). *out is written only on success.
 */
int at_dns_auth_find(const char *resolver_ip, int port, const char *name, int timeout_ms, struct at_dns_auth *out)
	AT_MUST_CHECK;

/*
 * Asks the server at ip:port (port 53 for an authoritative server) for the TXT records of name with RD clear
 * (authoritative = 1: only its own data counts, and only an answer with AA set; RFC 1035 section 4.1.1) or with
 * RD set (authoritative = 0: a resolver), within timeout_ms. Returns 0 when it answered, with *answer and *rcode
 * (its RCODE), or the transport's error when it did not (AT_E_TIMEOUT, AT_E_NET), AT_E_PARSE, AT_E_INVAL,
 * AT_E_BADNAME, AT_E_NOMEM.
 */
int at_dns_auth_txt(const char *ip, int port, const char *name, const char *value, int authoritative, int timeout_ms,
		    enum at_dns_auth_answer *answer, unsigned *rcode) AT_MUST_CHECK;

#endif
