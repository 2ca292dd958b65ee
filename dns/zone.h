/*
 * The zone that holds a name, found by SOA queries at one server: the RFC 2136 solver asks the server it will
 * update (the name itself must be in the zone, since the update writes at that name), the wait at the
 * authoritative servers asks a recursive resolver (a CNAME chain from the name is followed: a challenge
 * delegated to another zone is checked under the chain's end, RFC 8555 section 8.4 lets the CA follow it).
 *
 *   An SOA query for the name. The SOA is in the answer when the name is an apex, else in the authority section
 *   of the NODATA or NXDOMAIN answer (RFC 2308 sections 2.1 and 2.2), owned by the zone. Without one, the parent
 *   name is asked, and so on up to the top-level label; the root is not asked and is never a zone here.
 *
 * Every byte is outside input and read with the strict readers of dns/wire.h. It blocks, within the timeout
 * given: never on a server thread.
 */
#ifndef AUTOTLS_DNS_ZONE_H
#define AUTOTLS_DNS_ZONE_H

#include "dns/wire.h"
#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define AT_DNS_ZONE_MAX_STEPS 32 /* SOA queries while looking for the zone */

/*
 * The answer to an SOA query for name: target (AT_DNS_NAME_TEXT) gets the end of the CNAME chain from name in
 * the answer (name itself without one, at most AT_DNS_MAX_CNAMES links) and zone (AT_DNS_NAME_TEXT) the owner of
 * an SOA record in the answer owned by target, or else of one in the authority section owned by target or one of
 * its ancestors; "" when neither is there. The root is never a zone here: an SOA of the root leaves zone "".
 * Returns 0 (also for NXDOMAIN), AT_E_NET for another error RCODE, AT_E_TOOBIG (TC) or AT_E_PARSE (also when
 * the chain ends at the root or at a name that is not a host name). Borrows msg.
 */
int at_dns_parse_zone(const unsigned char *msg, size_t len, uint16_t id, const char *name, char *target,
		      char *zone) AT_MUST_CHECK;

/*
 * The zone holding name, asked of server_ip:port (RD set) as above, within timeout_ms in all and at most
 * AT_DNS_QUERY_MS a query. zone (cap bytes) gets it in lower case without a final dot.
 *
 * alias_end NULL: name itself must be in the zone; a CNAME at name or at a parent does not count, the search
 * goes on above it. alias_end (AT_DNS_NAME_TEXT bytes) given: a CNAME chain from name is followed, alias_end
 * gets its end (name in lower case when there is none) and the zone is the one holding that end.
 *
 * Returns 0, AT_E_BADNAME (name NULL or not valid in DNS), AT_E_NOTFOUND (no zone up to the top-level label),
 * AT_E_RANGE (cap too small), AT_E_NOMEM, or the error of the query that stopped it (AT_E_TIMEOUT, AT_E_NET for
 * an error RCODE or no answer, AT_E_PARSE, AT_E_INVAL for a bad address, ...). zone and alias_end are written only
 * on success.
 */
int at_dns_find_zone(const char *server_ip, int port, const char *name, int timeout_ms, char *zone, size_t cap,
		     char *alias_end) AT_MUST_CHECK;

#endif
