/*
 * DNS messages written byte by byte for tests (RFC 1035 section 4.1): the answers the parsers are fed, the
 * UPDATE bytes a test expects, a scripted server's replies. Written here, not with the library's encoder, so a
 * test checks that encoder against an independent one. Names are written out in full (no compression); a test
 * that wants a pointer, a bad label or a cut message writes those bytes itself (dns_msg_put) or edits b.
 */
#ifndef AUTOTLS_TESTS_HARNESS_DNS_MSG_H
#define AUTOTLS_TESTS_HARNESS_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_MAX 4096

struct dns_msg {
	unsigned char b[DNS_MSG_MAX];
	size_t n; /* bytes written so far */
};

/* Appends bytes / a big-endian number of 8, 16, 32 or 48 bits. A message that would pass DNS_MSG_MAX is the
 * test's own mistake: it says so and aborts. */
void dns_msg_put(struct dns_msg *m, const void *p, size_t n);
void dns_msg_u8(struct dns_msg *m, unsigned v);
void dns_msg_u16(struct dns_msg *m, unsigned v);
void dns_msg_u32(struct dns_msg *m, uint32_t v);
void dns_msg_u48(struct dns_msg *m, uint64_t v);

/* Appends text ("a.test", a final dot allowed, "" the root) as length-prefixed labels and the root label. */
void dns_msg_name(struct dns_msg *m, const char *text);

/* Starts the message afresh with the 12-byte header: id, flags (QR, opcode, AA, TC, RD, RA, RCODE as the
 * second 16-bit word) and the four section counts. */
void dns_msg_header(struct dns_msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
		    unsigned ar);

/* Appends a question / a resource record (class 1 is IN). */
void dns_msg_question(struct dns_msg *m, const char *name, unsigned type, unsigned cls);
void dns_msg_rr(struct dns_msg *m, const char *owner, unsigned type, unsigned cls, uint32_t ttl, const void *rdata,
		size_t rdlen);

#endif
