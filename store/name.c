/*
 * Identifier normalisation (see store/name.h). Every name that reaches the store, a CA or an SNI comparison
 * passes through here first, so this is the one place that decides what a name may look like.
 *
 * IDNA is deliberately partial: a label with bytes >= 0x80 must be valid UTF-8 (no overlong forms, no
 * surrogates), its ASCII letters are lowercased and it is encoded with RFC 3492 punycode as "xn--...". There is
 * no UTS 46 mapping (case folding of non-ASCII letters, NFC, width mapping) and no IDNA2008 code point table:
 * "BÜCHER.example" becomes "xn--bcher-kva.example" only if the caller already lowercased the "Ü". Labels that
 * arrive as "xn--..." are taken as ordinary LDH labels and not decoded. C1 controls (U+0080..U+009F) are refused.
 */
#include "store/name.h"
#include "store/punycode.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#define NAME_IN_MAX 1024 /* raw input cap: even fully escaped UTF-8 of a 253-byte A-label name is shorter */
#define LABEL_MAX 63

static int is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* Strict UTF-8 decoding (RFC 3629 section 4). Returns the number of code points or -1. */
static int utf8_decode(uint32_t *cp, size_t max, const unsigned char *s, size_t n)
{
	size_t i = 0, o = 0;

	while (i < n) {
		unsigned char c = s[i];
		uint32_t v;
		size_t more;
		unsigned char lo = 0x80, hi = 0xBF;
		if (c < 0x80) {
			v = c;
			more = 0;
		} else if (c >= 0xC2 && c <= 0xDF) {
			v = c & 0x1F;
			more = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			v = c & 0x0F;
			more = 2;
			if (c == 0xE0)
				lo = 0xA0;
			if (c == 0xED)
				hi = 0x9F; /* no surrogates */
		} else if (c >= 0xF0 && c <= 0xF4) {
			v = c & 0x07;
			more = 3;
			if (c == 0xF0)
				lo = 0x90;
			if (c == 0xF4)
				hi = 0x8F; /* nothing above U+10FFFF */
		} else {
			return -1;
		}
		if (n - i - 1 < more)
			return -1;
		for (size_t k = 1; k <= more; k++) {
			unsigned char d = s[i + k];
			if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF))
				return -1;
			v = (v << 6) | (d & 0x3F);
		}
		if (o == max)
			return -1;
		cp[o++] = v;
		i += more + 1;
	}
	return (int)o;
}

/* Writes the A-label for one label with non-ASCII bytes into out[LABEL_MAX+1]. */
static int idna_label(char *out, const unsigned char *s, size_t n)
{
	uint32_t cp[NAME_IN_MAX];
	char enc[LABEL_MAX + 1 - 4];
	int ncp = utf8_decode(cp, sizeof cp / sizeof cp[0], s, n);

	if (ncp <= 0)
		return AT_E_BADNAME;
	for (int i = 0; i < ncp; i++) {
		if (cp[i] < 0x80) {
			cp[i] = lower((unsigned char)cp[i]);
			if (!is_ldh((unsigned char)cp[i]))
				return AT_E_BADNAME;
		} else if (cp[i] < 0xA0) {
			return AT_E_BADNAME;
		}
	}
	if (cp[0] == '-' || cp[ncp - 1] == '-')
		return AT_E_BADNAME;
	if (at_punycode_encode(enc, sizeof enc, cp, (size_t)ncp) != 0)
		return AT_E_BADNAME; /* the A-label would pass 63 bytes */
	memcpy(out, "xn--", 4);
	memcpy(out + 4, enc, strlen(enc) + 1);
	return 0;
}

/* IP literals (RFC 8738) in the canonical text of inet_ntop: "::ffff:1.2.3.4", "2001:db8::1", "10.0.0.1". */
static int ip_literal(char out[AT_NAME_MAX + 1], const char *s)
{
	unsigned char addr[16];
	char text[INET6_ADDRSTRLEN];

	if (strchr(s, ':') != NULL) {
		if (inet_pton(AF_INET6, s, addr) != 1 || inet_ntop(AF_INET6, addr, text, sizeof text) == NULL)
			return AT_E_BADNAME;
	} else if (inet_pton(AF_INET, s, addr) == 1) {
		if (inet_ntop(AF_INET, addr, text, sizeof text) == NULL)
			return AT_E_BADNAME;
	} else {
		return 1; /* not an IP literal */
	}
	memcpy(out, text, strlen(text) + 1);
	return 0;
}

int at_name_normalize(char out[AT_NAME_MAX + 1], const char *in, size_t in_len)
{
	char buf[NAME_IN_MAX + 1];
	char res[AT_NAME_MAX + 1];
	size_t len = in_len, o = 0, start = 0;
	int nlabels = 0, last_numeric = 0;
	int rc;

	if (out == NULL || in == NULL || in_len == 0 || in_len > NAME_IN_MAX)
		return AT_E_BADNAME;
	for (size_t i = 0; i < in_len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
			return AT_E_BADNAME;
	}
	memcpy(buf, in, in_len);
	buf[in_len] = '\0';
	rc = ip_literal(res, buf);
	if (rc <= 0) {
		if (rc == 0)
			memcpy(out, res, strlen(res) + 1);
		return rc;
	}
	if (buf[len - 1] == '.')
		len--; /* one trailing dot: the absolute form of the same name */
	if (len == 0)
		return AT_E_BADNAME;
	while (start <= len) {
		size_t end = start;
		char label[LABEL_MAX + 1];
		size_t llen;
		int high = 0;
		while (end < len && buf[end] != '.')
			end++;
		llen = end - start;
		if (llen == 0)
			return AT_E_BADNAME; /* "a..b", ".a" and a second trailing dot */
		for (size_t i = start; i < end; i++)
			high |= (unsigned char)buf[i] >= 0x80;
		if (llen == 1 && buf[start] == '*') {
			if (nlabels != 0 || end == len)
				return AT_E_BADNAME; /* "*" only as the whole first label of a longer name */
			label[0] = '*';
			label[1] = '\0';
		} else if (high) {
			if (idna_label(label, (const unsigned char *)buf + start, llen) != 0)
				return AT_E_BADNAME;
		} else {
			if (llen > LABEL_MAX)
				return AT_E_BADNAME;
			for (size_t i = 0; i < llen; i++) {
				label[i] = (char)lower((unsigned char)buf[start + i]);
				if (!is_ldh((unsigned char)label[i]))
					return AT_E_BADNAME;
			}
			label[llen] = '\0';
			if (label[0] == '-' || label[llen - 1] == '-')
				return AT_E_BADNAME;
		}
		llen = strlen(label);
		if (o + (o ? 1 : 0) + llen > AT_NAME_MAX)
			return AT_E_BADNAME;
		if (o)
			res[o++] = '.';
		memcpy(res + o, label, llen);
		o += llen;
		last_numeric = strspn(label, "0123456789") == llen;
		nlabels++;
		start = end + 1;
	}
	/* An all-numeric last label is no DNS name (RFC 3696 section 2); refusing it also keeps "1.2.3.4." and
	 * "01.2.3.4" from passing as names that look like addresses. */
	if (last_numeric)
		return AT_E_BADNAME;
	res[o] = '\0';
	memcpy(out, res, o + 1);
	return 0;
}

/*
 * The mapping, into [a-z0-9._-]: a DNS name and an IPv4 literal map to themselves; a wildcard "*.rest" maps to
 * "_.rest"; an IPv6 literal has each ':' replaced by '_'. It is injective: normalised DNS names and IPv4
 * literals never contain '_', a wildcard's image starts with "_." and an IPv6 image never does (its second byte
 * is '_' or a hex digit), and within each kind the replacement is reversible. The length never changes, so it
 * stays within AT_NAME_MAX, and the image never starts with '.', so it is never "." or "..".
 */
int at_name_to_component(char out[AT_NAME_MAX + 1], const char *normalized)
{
	char check[AT_NAME_MAX + 1];
	size_t n;

	if (out == NULL || normalized == NULL)
		return AT_E_BADNAME;
	n = strlen(normalized);
	/* Only normalised names have the properties the mapping relies on. */
	if (at_name_normalize(check, normalized, n) != 0 || strcmp(check, normalized) != 0)
		return AT_E_BADNAME;
	for (size_t i = 0; i <= n; i++)
		out[i] = normalized[i] == '*' || normalized[i] == ':' ? '_' : normalized[i];
	return 0;
}
