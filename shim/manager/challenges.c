/*
 * Which challenges the manager answers, and in what order. AUTOTLS_CHALLENGES lists the enabled types (default:
 * every type that can work here: TLS-ALPN-01 always, HTTP-01 when its port or webroot is usable, DNS-01 when a
 * hook or an RFC 2136 update server is configured). The order is random on every issuance (the engine's
 * attempt record puts the type that last worked first) and a failed challenge falls back to the next type
 * (at_engine_fallback): a client that knew a single challenge broke when TLS-SNI-01 was switched off in 2018,
 * and an order that fails one way (a firewall on 443, a port 80 taken by another server) should not stop the
 * others from being tried.
 *
 * The solvers other than TLS-ALPN-01 (which publishes through the region, tlsalpn01_solver.c) live in the core's
 * challenge/: this file gives each its own configuration, filled once from the shim's (which never changes after
 * attach), and has their waits release the quiesce lock, as libcurl's and the store's lock waits do. Called by
 * the manager's threads holding the quiesce lock.
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "challenge/dns01_hook.h"
#include "challenge/dns01_rfc2136.h"
#include "challenge/http01.h"
#include "challenge/wait_hooks.h"
#include "acme/solver.h"
#include "engine/engine.h"
#include "util/err.h"
#include "util/log.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

static pthread_once_t configured = PTHREAD_ONCE_INIT;
static struct at_http01_config http01;
static struct at_dns01_hook_config dns01_hook;
static struct at_dns01_rfc2136_config dns01_rfc2136;

/* The challenge/ solvers' configurations from mgr_host->cfg; pointers borrow from it. */
static void configure(void)
{
	const struct shim_config *cfg = mgr_host->cfg;

	http01.port = cfg->http_port;
	http01.redirect = cfg->http_redirect;
	http01.webroot = cfg->webroot;
	dns01_hook.hook = cfg->dns_hook;
	dns01_hook.wait.wait_s = cfg->dns_wait_s;
	dns01_hook.wait.server = cfg->dns_resolver;
	dns01_hook.wait.server_port = cfg->dns_resolver_port;
	dns01_hook.wait.server_label = "AUTOTLS_DNS_RESOLVER";
	dns01_hook.wait.resolv_conf = cfg->dns_resolv_conf;
	dns01_rfc2136.server = cfg->dns_update;
	dns01_rfc2136.port = cfg->dns_update_port;
	dns01_rfc2136.key.alg = (enum at_tsig_alg)cfg->dns_tsig_alg;
	dns01_rfc2136.key.name = cfg->dns_tsig_name;
	dns01_rfc2136.key.secret = cfg->dns_tsig_secret;
	dns01_rfc2136.key.secret_len = cfg->dns_tsig_secret_len;
	dns01_rfc2136.zone = cfg->dns_zone;
	dns01_rfc2136.wait_s = cfg->dns_wait_s;
	at_challenge_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
}

/* RFC 2136 when AUTOTLS_DNS_UPDATE and AUTOTLS_DNS_TSIG are set (it wins over a hook), else the hook. */
static int dns01_solver(struct at_solver *out)
{
	if (at_dns01_rfc2136_solver(out, &dns01_rfc2136) == 0)
		return 0;
	return at_dns01_hook_solver(out, &dns01_hook);
}

int mgr_challenges(struct at_solver *out, size_t max, size_t *n)
{
	const struct shim_config *cfg = mgr_host->cfg;
	unsigned enabled = cfg->challenges ? cfg->challenges : ~0u;
	struct at_solver s;
	pthread_once(&configured, configure);
	*n = 0;
	if ((enabled & (1u << AT_CHALLENGE_TLS_ALPN_01)) && *n < max) {
		mgr_tlsalpn01_solver(&s);
		out[(*n)++] = s;
	}
	/* On etcd, HTTP-01 tokens and DNS-01 records go through the store too (fleet_http01.c, fleet_dns01.c). */
	if ((enabled & (1u << AT_CHALLENGE_HTTP_01)) && *n < max && at_http01_solver(&s, &http01) == 0) {
		mgr_fleet_http01_wrap(&s);
		out[(*n)++] = s;
	}
	if ((enabled & (1u << AT_CHALLENGE_DNS_01)) && *n < max && dns01_solver(&s) == 0) {
		mgr_fleet_dns01_wrap(&s);
		out[(*n)++] = s;
	}
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

int mgr_challenge_solver(int type, struct at_solver *out)
{
	pthread_once(&configured, configure);
	if (type == AT_CHALLENGE_HTTP_01)
		return at_http01_solver(out, &http01);
	if (type == AT_CHALLENGE_DNS_01)
		return dns01_solver(out);
	return AT_E_UNSUPPORTED;
}

int mgr_challenge_plan(struct at_engine *e, const char *const *names, size_t nnames, struct at_solver *list,
		       size_t *n, struct at_attempt_plan *plan)
{
	enum at_challenge_type offered[AT_CHALLENGE_COUNT];
	int rc = mgr_challenges(list, AT_CHALLENGE_COUNT, n);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < *n; i++)
		offered[i] = list[i].type;
	if (at_engine_attempt_plan(e, names, nnames, offered, *n, plan) != 0) {
		memset(plan, 0, sizeof(*plan));
		plan->now_ok = 1;
		plan->norder = *n;
		memcpy(plan->order, offered, *n * sizeof(offered[0]));
	}
	return 0;
}

int mgr_challenge_round(struct at_engine *e, const char *const *names, size_t nnames, const struct at_solver *use,
			size_t n, const struct at_attempt_plan *plan, int force, struct at_cert_record *rec,
			int *ordered)
{
	memset(rec, 0, sizeof(*rec));
	if (!plan->now_ok)
		return at_engine_ensure(e, names, nnames, use, n, force, rec, ordered);
	int rc = AT_E_NO_SOLVER;
	for (size_t i = 0; i < plan->norder; i++) {
		const struct at_solver *s = NULL;
		for (size_t k = 0; k < n && s == NULL; k++)
			if (use[k].type == plan->order[i])
				s = &use[k];
		if (s == NULL)
			continue;
		memset(rec, 0, sizeof(*rec));
		rc = at_engine_ensure(e, names, nnames, s, 1, force, rec, ordered);
		if (rc == 0 || !at_engine_fallback(e, rc))
			return rc;
		if (i + 1 < plan->norder)
			at_log_warn("%s failed for %s (%s); falling back to %s", at_challenge_type_name(plan->order[i]),
				    names[0], at_strerror(rc), at_challenge_type_name(plan->order[i + 1]));
	}
	return rc;
}
