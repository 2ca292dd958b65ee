/* Parsing of AUTOTLS_STORAGE's etcd:// form (store/etcd_url.h). Only the syntax: nothing is resolved here. */
#include "store/etcd_url.h"
#include "store/keypath.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int at_etcd_url_is(const char *spec)
{
	return spec != NULL && (strncmp(spec, "etcd://", 7) == 0 || strncmp(spec, "etcds://", 8) == 0);
}

static int host_ok(const char *h, size_t n)
{
	if (n == 0 || n > 253)
		return 0;
	if (h[0] == '[') /* an IPv6 literal: hex digits, ':' and '.' between the brackets */
		return n > 2 && h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.") == n - 2;
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= '0' && h[i] <= '9') ||
		      h[i] == '-' || h[i] == '.'))
			return 0;
	return 1;
}

/* One member, m[0..n): HOST[:PORT]. */
static int add_member(struct at_etcd_url *u, const char *m, size_t n)
{
	const char *colon = NULL;
	size_t hn = n;
	long port = 2379;

	if (u->n == AT_ETCD_MEMBERS_MAX)
		return AT_E_INVAL;
	for (size_t i = n; i-- > 0;) {
		if (m[i] == ']')
			break;
		if (m[i] == ':') {
			colon = m + i;
			break;
		}
	}
	if (colon != NULL) {
		char digits[8];
		size_t dn = n - (size_t)(colon - m) - 1;
		char *end = NULL;
		if (dn == 0 || dn >= sizeof digits || strspn(colon + 1, "0123456789") < dn)
			return AT_E_INVAL;
		memcpy(digits, colon + 1, dn);
		digits[dn] = '\0';
		port = strtol(digits, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535)
			return AT_E_INVAL;
		hn = (size_t)(colon - m);
	}
	if (!host_ok(m, hn))
		return AT_E_INVAL;
	snprintf(u->members[u->n++], sizeof u->members[0], "%s://%.*s:%ld", u->tls ? "https" : "http", (int)hn, m,
		 port);
	return 0;
}

int at_etcd_url_parse(struct at_etcd_url *u, const char *spec)
{
	const char *p, *slash;

	if (u == NULL || !at_etcd_url_is(spec))
		return AT_E_INVAL;
	memset(u, 0, sizeof *u);
	u->tls = spec[4] == 's';
	p = spec + (u->tls ? 8 : 7);
	slash = strchr(p, '/');
	if (slash == NULL || slash == p) {
		at_log_error("AUTOTLS_STORAGE: \"%.120s\" names no member or no prefix; write "
			     "etcd://HOST:PORT[,HOST:PORT...]/PREFIX", spec);
		return AT_E_INVAL;
	}
	while (p < slash) {
		const char *comma = memchr(p, ',', (size_t)(slash - p));
		const char *end = comma ? comma : slash;
		if (add_member(u, p, (size_t)(end - p)) != 0) {
			at_log_error("AUTOTLS_STORAGE: member \"%.*s\" is not HOST:PORT (or more than %d members)",
				     (int)((end - p) > 80 ? 80 : (end - p)), p, AT_ETCD_MEMBERS_MAX);
			return AT_E_INVAL;
		}
		p = comma ? comma + 1 : slash;
	}
	p = slash + 1;
	size_t pn = strlen(p);
	if (pn > 0 && p[pn - 1] == '/')
		pn--;
	if (pn == 0 || pn > AT_ETCD_PREFIX_MAX) {
		at_log_error("AUTOTLS_STORAGE: the etcd prefix after the members must be 1 to %d characters",
			     AT_ETCD_PREFIX_MAX);
		return AT_E_INVAL;
	}
	memcpy(u->prefix, p, pn);
	u->prefix[pn] = '\0';
	if (at_store_key_check(u->prefix, 0) != 0) {
		at_log_error("AUTOTLS_STORAGE: the etcd prefix \"%s\" must be components of [a-z0-9._-] joined by '/'",
			     u->prefix);
		return AT_E_INVAL;
	}
	return 0;
}
