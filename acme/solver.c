/* Challenge type names as they appear in the "type" member of an ACME challenge object (RFC 8555 section 8). */
#include "acme/solver.h"
#include "util/err.h"

#include <stddef.h>
#include <string.h>

static const char *const type_names[AT_CHALLENGE_COUNT] = {
	[AT_CHALLENGE_TLS_ALPN_01] = "tls-alpn-01", /* RFC 8737 */
	[AT_CHALLENGE_HTTP_01] = "http-01",         /* RFC 8555 section 8.3 */
	[AT_CHALLENGE_DNS_01] = "dns-01",           /* RFC 8555 section 8.4 */
};

int at_challenge_keepalive(const struct at_challenge *ch)
{
	return ch && ch->keepalive ? ch->keepalive(ch->keepalive_ctx) : 0;
}

const char *at_challenge_type_name(enum at_challenge_type type)
{
	if ((unsigned)type >= AT_CHALLENGE_COUNT)
		return "unknown";
	return type_names[type];
}

int at_challenge_type_parse(enum at_challenge_type *out, const char *name)
{
	if (name == NULL)
		return AT_E_UNSUPPORTED;
	/* Exact, case-sensitive: the registry values are lowercase and a CA sends them verbatim. */
	for (unsigned i = 0; i < AT_CHALLENGE_COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum at_challenge_type)i;
			return 0;
		}
	}
	return AT_E_UNSUPPORTED;
}
