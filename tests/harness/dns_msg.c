/* DNS messages written by hand for tests (see dns_msg.h). */
#include "tests/harness/dns_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dns_msg_put(struct dns_msg *m, const void *p, size_t n)
{
	if (n > sizeof(m->b) - m->n) {
		fprintf(stderr, "  dns_msg: a message over %d bytes (the test writes too much)\n", DNS_MSG_MAX);
		abort();
	}
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

void dns_msg_u8(struct dns_msg *m, unsigned v)
{
	unsigned char c = (unsigned char)v;
	dns_msg_put(m, &c, 1);
}

void dns_msg_u16(struct dns_msg *m, unsigned v)
{
	dns_msg_u8(m, v >> 8 & 0xFF);
	dns_msg_u8(m, v & 0xFF);
}

void dns_msg_u32(struct dns_msg *m, uint32_t v)
{
	dns_msg_u16(m, v >> 16);
	dns_msg_u16(m, v & 0xFFFF);
}

void dns_msg_u48(struct dns_msg *m, uint64_t v)
{
	dns_msg_u16(m, (unsigned)(v >> 32 & 0xFFFF));
	dns_msg_u32(m, (uint32_t)v);
}

void dns_msg_name(struct dns_msg *m, const char *text)
{
	while (*text) {
		const char *dot = strchr(text, '.');
		size_t l = dot ? (size_t)(dot - text) : strlen(text);
		dns_msg_u8(m, (unsigned)l);
		dns_msg_put(m, text, l);
		text += l + (dot ? 1 : 0);
	}
	dns_msg_u8(m, 0);
}

void dns_msg_header(struct dns_msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an, unsigned ns,
		    unsigned ar)
{
	m->n = 0;
	dns_msg_u16(m, id);
	dns_msg_u16(m, flags);
	dns_msg_u16(m, qd);
	dns_msg_u16(m, an);
	dns_msg_u16(m, ns);
	dns_msg_u16(m, ar);
}

void dns_msg_question(struct dns_msg *m, const char *name, unsigned type, unsigned cls)
{
	dns_msg_name(m, name);
	dns_msg_u16(m, type);
	dns_msg_u16(m, cls);
}

void dns_msg_rr(struct dns_msg *m, const char *owner, unsigned type, unsigned cls, uint32_t ttl, const void *rdata,
		size_t rdlen)
{
	dns_msg_name(m, owner);
	dns_msg_u16(m, type);
	dns_msg_u16(m, cls);
	dns_msg_u32(m, ttl);
	dns_msg_u16(m, (unsigned)rdlen);
	dns_msg_put(m, rdata, rdlen);
}
