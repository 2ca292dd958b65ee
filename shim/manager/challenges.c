/*
 * Which challenges the manager answers, and in what order. AUTOTLS_CHALLENGES lists the enabled types (default:
 * every type that can work here: TLS-ALPN-01 always, HTTP-01 when its port or webroot is usable, DNS-01 when a
 * hook or an RFC 2136 update server is configured). The order is random on every issuance and a failure falls
 * back to the next type: a client that knew a single challenge broke when TLS-SNI-01 was switched off in 2018, and an order that fails
 * one way (a firewall on 443, a port 80 taken by another server) should not stop the others from being tried.
 */
#include "shim/manager/manager.h"
#include "shim/manager/dns01.h"
#include "shim/manager/http01.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/log.h"

#include <openssl/rand.h>
#include <string.h>

int mgr_challenges(struct at_solver *out, size_t max, size_t *n)
{
	const struct shim_config *cfg = mgr_host->cfg;
	unsigned enabled = cfg->challenges ? cfg->challenges : ~0u;
	struct at_solver s;
	*n = 0;
	if ((enabled & (1u << AT_CHALLENGE_TLS_ALPN_01)) && *n < max) {
		mgr_solver_init(&s);
		out[(*n)++] = s;
	}
	if ((enabled & (1u << AT_CHALLENGE_HTTP_01)) && *n < max && mgr_http01_solver(&s) == 0)
		out[(*n)++] = s;
	if ((enabled & (1u << AT_CHALLENGE_DNS_01)) && *n < max && mgr_dns01_solver(&s) == 0)
		out[(*n)++] = s;
	if (*n == 0)
		return AT_E_NO_SOLVER;
	/* Fisher-Yates with the CSPRNG: no type is favoured, run after run. */
	for (size_t i = *n - 1; i > 0; i--) {
		unsigned r = 0;
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
			break;
		size_t j = r % (i + 1);
		struct at_solver t = out[i];
		out[i] = out[j];
		out[j] = t;
	}
	return 0;
}

int mgr_challenge_fallback(int rc)
{
	/* Failures of the challenge itself; the CA being down or limiting us is not one (back off instead). */
	return rc == AT_E_AUTHZ_INVALID || rc == AT_E_CHALLENGE || rc == AT_E_NO_SOLVER || rc == AT_E_ORDER_INVALID ||
	       rc == AT_E_TIMEOUT;
}
