/*
 * Getting one DNS message to a server and its answer back (RFC 1035 section 4.2): a query over UDP, asked again
 * over TCP when the answer comes back truncated (RFC 7766 section 5), and a prepared message over TCP. No
 * recursion of its own, no cache, no EDNS, no retransmission. The answer bytes are not parsed here (dns/wire.h
 * reads them); the only checks are the ones that pick our answer out of the datagrams that arrive.
 *
 * Every call blocks, within the timeout given: never call it on a server thread. Nothing is kept between calls.
 */
#ifndef AUTOTLS_DNS_TRANSPORT_H
#define AUTOTLS_DNS_TRANSPORT_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* One query's share of a longer search (a zone, its servers), so one silent server cannot use all of it. */
#define AT_DNS_QUERY_MS 2000L

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
		    size_t cap, size_t *rlen, uint16_t *id, int timeout_ms) AT_MUST_CHECK;

/*
 * One step of a search: at_dns_exchange with RD set into r (AT_DNS_MSG_MAX bytes), within what is left before
 * deadline (at_clock_ms), at most AT_DNS_QUERY_MS. Returns AT_E_TIMEOUT when nothing is left, else as
 * at_dns_exchange.
 */
int at_dns_exchange_by(const char *server_ip, int port, const char *name, uint16_t qtype, long deadline,
		       unsigned char *r, size_t *rlen, uint16_t *id) AT_MUST_CHECK;

/*
 * Sends the message q (qlen bytes) to server_ip:port over TCP (RFC 1035 section 4.2.2, a two-byte length
 * first) and reads one message back into r (cap bytes), *rlen its size, within timeout_ms. Does not look at the
 * bytes either way. Returns 0, AT_E_INVAL, AT_E_NET, AT_E_TIMEOUT, AT_E_TOOBIG (the answer is over cap) or
 * AT_E_NOMEM. Borrows everything.
 */
int at_dns_tcp_exchange(const char *server_ip, int port, const unsigned char *q, size_t qlen, unsigned char *r,
			size_t cap, size_t *rlen, int timeout_ms) AT_MUST_CHECK;

#endif
