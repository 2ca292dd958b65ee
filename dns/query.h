/*
 * The question a DNS-01 solver asks before it tells the CA to validate: "does this TXT record hold this value
 * yet?", put to one server (a resolver, or the server that took the update), and the parser of its answer. Also
 * where the system's resolver is. The answer is read with the strict readers of dns/wire.h; the exchange is
 * dns/transport.h's. It blocks (up to the timeout given): never call it on a server thread.
 */
#ifndef AUTOTLS_DNS_QUERY_H
#define AUTOTLS_DNS_QUERY_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Parses msg (len bytes), the answer to a TXT query for name with the given id. On success returns 0 and sets
 * *found to 1 when a TXT record of name (or of the end of a CNAME chain from name) has value as the
 * concatenation of its character-strings, else 0 (also for NXDOMAIN). When the server set TC (truncated),
 * returns AT_E_TOOBIG with *found untouched: ask again over TCP. Returns AT_E_PARSE for a malformed or
 * mismatched answer (wrong id, not a response, another question), AT_E_NET for a server failure (SERVFAIL,
 * REFUSED, ...). Borrows everything.
 */
int at_dns_parse_txt(const unsigned char *msg, size_t len, uint16_t id, const char *name, const char *value,
		     int *found) AT_MUST_CHECK;

/*
 * Asks server_ip (an IPv4 or IPv6 literal) at port whether name has a TXT record equal to value: one query over
 * UDP (a random id, RD set; answers with another id are ignored), over TCP when the answer is truncated, within
 * timeout_ms in all. Returns 0 and sets *found, or AT_E_INVAL (bad address), AT_E_BADNAME, AT_E_TIMEOUT,
 * AT_E_NET, AT_E_PARSE.
 */
int at_dns_txt_has(const char *server_ip, int port, const char *name, const char *value, int timeout_ms,
		   int *found) AT_MUST_CHECK;

/*
 * The first "nameserver" line of resolv_conf (NULL: /etc/resolv.conf) into ip (cap bytes, an IP literal without
 * a zone index). Returns 0 or AT_E_NOTFOUND.
 */
int at_dns_system_resolver(char *ip, size_t cap, const char *resolv_conf) AT_MUST_CHECK;

#endif
