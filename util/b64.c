#include "util/b64.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int encode(char **out, const void *in, size_t n, const char *alpha, int pad)
{
	const unsigned char *p = in;
	size_t cap = (n + 2) / 3 * 4 + 1;
	char *s = malloc(cap);
	size_t o = 0;

	if (s == NULL)
		return AT_E_NOMEM;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		s[o++] = alpha[v >> 18 & 63];
		s[o++] = alpha[v >> 12 & 63];
		s[o++] = alpha[v >> 6 & 63];
		s[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		s[o++] = alpha[v >> 18 & 63];
		s[o++] = alpha[v >> 12 & 63];
		if (pad) {
			s[o++] = '=';
			s[o++] = '=';
		}
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		s[o++] = alpha[v >> 18 & 63];
		s[o++] = alpha[v >> 12 & 63];
		s[o++] = alpha[v >> 6 & 63];
		if (pad)
			s[o++] = '=';
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

int at_b64url_encode(char **out, const void *in, size_t n)
{
	return encode(out, in, n, url_alphabet, 0);
}

int at_b64_encode(char **out, const void *in, size_t n)
{
	return encode(out, in, n, std_alphabet, 1);
}

static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

int at_b64url_decode(unsigned char **out, size_t *outlen, const char *in, size_t n)
{
	while (n > 0 && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return AT_E_PARSE;
	unsigned char *d = malloc(n / 4 * 3 + 3);
	if (d == NULL)
		return AT_E_NOMEM;
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = value_of(in[i]);
		if (v < 0) {
			free(d);
			return AT_E_PARSE;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	*out = d;
	*outlen = o;
	return 0;
}

int at_b64_decode(unsigned char **out, size_t *outlen, const char *in, size_t n)
{
	size_t pad = 0;
	if (n == 0 || n % 4 != 0)
		return AT_E_PARSE;
	while (pad < 2 && in[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (in[i] == '\0' || strchr(std_alphabet, in[i]) == NULL)
			return AT_E_PARSE;
	/* What is left is the standard alphabet only, 2, 3 or 4 characters in its last group: the tolerant decoder
	 * reads it exactly. */
	return at_b64url_decode(out, outlen, in, n - pad);
}
