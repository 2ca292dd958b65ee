/*
 * The HTTP-01 responder's request parser (see http01_request.h). It reads bytes anyone on the network sent to
 * the responder's port: every index is checked against the length given, and nothing it is sent ends up in an
 * answer unchecked (a Location is built only from a validated Host and a target of visible ASCII).
 */
#include "challenge/http01_request.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int b64url_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int at_http01_token_ok(const char *t, size_t n)
{
	if (n == 0 || n > AT_HTTP01_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!b64url_char((unsigned char)t[i]))
			return 0;
	return 1;
}

int at_http01_request_end(const char *buf, size_t len, size_t *head_len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (end == NULL)
		end = memmem(buf, len, "\n\n", 2);
	if (end == NULL)
		return AT_E_NOTFOUND;
	*head_len = (size_t)(end - buf) + 2;
	return 0;
}

/* Validates a Host header value v[0..n) and copies it without a ":port" into out (AT_HTTP01_HOST_MAX + 1
 * bytes). 0 or AT_E_PARSE. */
static int host_ok(char *out, const char *v, size_t n)
{
	size_t colon = n;
	if (n == 0 || n > AT_HTTP01_HOST_MAX)
		return AT_E_PARSE;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == ':') {
			if (colon != n)
				return AT_E_PARSE; /* one port at most; IPv6 literals are not redirected */
			colon = i;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			     c == '-')) {
			return AT_E_PARSE;
		}
	}
	if (colon == 0)
		return AT_E_PARSE;
	if (colon != n) {
		/* The port of the plain-HTTP request means nothing for https://; drop it. */
		if (n - colon - 1 < 1 || n - colon - 1 > 5)
			return AT_E_PARSE;
		for (size_t i = colon + 1; i < n; i++)
			if (v[i] < '0' || v[i] > '9')
				return AT_E_PARSE;
	}
	memcpy(out, v, colon);
	out[colon] = '\0';
	return 0;
}

/* RFC 9112 section 3.2: exactly one Host among the header lines from line to end; anything odd is AT_E_PARSE,
 * never a redirect to it. Copies the name without its port into host. */
static int find_host(char *host, const char *line, const char *end)
{
	int hosts = 0, bad = 0;
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (eol == NULL)
			break;
		size_t ll = (size_t)(eol - line);
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break;
		if (ll >= 5 && strncasecmp(line, "host:", 5) == 0) {
			const char *v = line + 5, *ve = line + ll;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			hosts++;
			bad |= host_ok(host, v, (size_t)(ve - v)) != 0;
		}
		line = eol + 1;
	}
	return hosts == 1 && !bad ? 0 : AT_E_PARSE;
}

int at_http01_request_parse(struct at_http01_request *out, const char *head, size_t len, int redirect)
{
	const char *eol = memchr(head, '\n', len);
	const char *sp1 = eol ? memchr(head, ' ', (size_t)(eol - head)) : NULL;
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	static const char version[] = "HTTP/1.";

	if (sp2 == NULL || sp1 == head || (size_t)(eol - sp2 - 1) < sizeof(version) - 1 ||
	    memcmp(sp2 + 1, version, sizeof(version) - 1) != 0)
		return AT_E_PARSE;
	const char *target = sp1 + 1;
	size_t tlen = (size_t)(sp2 - target);
	if (tlen == 0 || target[0] != '/')
		return AT_E_PARSE; /* origin-form only: an absolute URL is not ours to follow */
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return AT_E_PARSE;
	size_t plen = strlen(AT_HTTP01_PREFIX);
	if (tlen >= plen && memcmp(target, AT_HTTP01_PREFIX, plen) == 0) {
		const char *token = target + plen;
		size_t n = tlen - plen;
		memset(out, 0, sizeof(*out));
		out->answer = AT_HTTP01_NOT_FOUND;
		if (sp1 - head == 3 && memcmp(head, "GET", 3) == 0 && at_http01_token_ok(token, n)) {
			out->answer = AT_HTTP01_KEYAUTH;
			out->token = token;
			out->token_len = n;
		}
		return 0;
	}
	if (!redirect) {
		memset(out, 0, sizeof(*out));
		out->answer = AT_HTTP01_NOT_FOUND;
		return 0;
	}
	char host[AT_HTTP01_HOST_MAX + 1];
	if (find_host(host, eol + 1, head + len) != 0)
		return AT_E_PARSE;
	int n = snprintf(NULL, 0, "https://%s%.*s", host, (int)tlen, target);
	if (n < 0 || (size_t)n >= sizeof(out->location))
		return AT_E_PARSE;
	memset(out, 0, sizeof(*out));
	snprintf(out->location, sizeof(out->location), "https://%s%.*s", host, (int)tlen, target);
	out->answer = AT_HTTP01_REDIRECT;
	return 0;
}
