/* The shared-store records of distributed challenge solving (see fleet_record.h). */
#include "challenge/fleet_record.h"
#include "challenge/http01_request.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define DNS01_LABEL "_acme-challenge."

int at_fleet_record_key(char *out, size_t size, const char *kind, const char *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return AT_E_CRYPTO;
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	/* kind is one of ours ("http-01", "dns-01"): a store component as it stands. */
	int n = snprintf(out, size, "challenges/%s/%s", kind, hex);
	return n < 0 || (size_t)n >= size ? AT_E_RANGE : 0;
}

/* 0 when key is data[0..len)'s record key under kind. */
static int bound(const char *key, const char *kind, const char *data, size_t len)
{
	char k[AT_FLEET_KEY_MAX];
	if (at_fleet_record_key(k, sizeof k, kind, data, len) != 0 || strcmp(k, key) != 0)
		return AT_E_PARSE;
	return 0;
}

int at_fleet_http01_check(const char *key, const char *v, size_t len, size_t *token_len)
{
	const char *dot = v != NULL && len <= AT_FLEET_HTTP01_VALUE_MAX ? memchr(v, '.', len) : NULL;
	if (dot == NULL || key == NULL)
		return AT_E_PARSE;
	size_t tl = (size_t)(dot - v);
	if (!at_http01_token_ok(v, tl) || !at_http01_token_ok(dot + 1, len - tl - 1) ||
	    bound(key, "http-01", v, tl) != 0)
		return AT_E_PARSE;
	*token_len = tl;
	return 0;
}

static int dns_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_';
}

int at_fleet_dns01_check(const char *key, const char *v, size_t len, size_t *name_len)
{
	const size_t label = sizeof(DNS01_LABEL) - 1;
	const char *nl = v != NULL && len <= AT_FLEET_DNS01_RECORD_MAX ? memchr(v, '\n', len) : NULL;
	if (nl == NULL || key == NULL)
		return AT_E_PARSE;
	size_t nlen = (size_t)(nl - v), vlen = len - nlen - 1;
	if (nlen > AT_FLEET_DNS01_NAME_MAX || nlen <= label || strncmp(v, DNS01_LABEL, label) != 0 ||
	    vlen == 0 || vlen > AT_FLEET_DNS01_VALUE_MAX || !at_http01_token_ok(nl + 1, vlen))
		return AT_E_PARSE;
	for (size_t i = 0; i < nlen; i++)
		if (!dns_char(v[i]))
			return AT_E_PARSE;
	if (bound(key, "dns-01", v, len) != 0)
		return AT_E_PARSE;
	*name_len = nlen;
	return 0;
}
