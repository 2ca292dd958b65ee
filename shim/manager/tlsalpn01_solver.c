/*
 * The TLS-ALPN-01 solver (RFC 8737) the manager uses: present() publishes the validation certificate and its key
 * for the challenge's SNI through the region (publish.c), where every process of the tree finds it and the
 * preload answers a ClientHello that offers only acme-tls/1 with it; cleanup() withdraws it. It needs the
 * region, so it lives in the shim, not in the core's challenge/. Runs on the manager's threads. On an etcd store
 * the record is shared with the fleet's other hosts through the store as well (fleet_challenges.c).
 */
#include "shim/manager/fleet.h"
#include "shim/manager/manager.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

/* The certificate as PEM into *out (new, caller frees), *len its length. 0, AT_E_CRYPTO or AT_E_NOMEM. */
static int cert_pem(char **out, size_t *len, X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	if (b == NULL || PEM_write_bio_X509(b, x) != 1) {
		BIO_free(b);
		return AT_E_CRYPTO;
	}
	long n = BIO_get_mem_data(b, &p);
	*out = malloc((size_t)n);
	if (*out)
		memcpy(*out, p, (size_t)n);
	*len = (size_t)n;
	BIO_free(b);
	return *out ? 0 : AT_E_NOMEM;
}

static int alpn_present(void *ctx, const struct at_challenge *ch)
{
	char *chain = NULL, *key = NULL;
	size_t chain_len = 0, key_len = 0;
	(void)ctx;
	int rc = cert_pem(&chain, &chain_len, ch->alpn_cert);
	if (rc == 0)
		rc = at_key_to_pem(&key, &key_len, ch->alpn_key);
	if (rc != 0) {
		free(chain);
		at_secret_free(key, key_len);
		return rc;
	}
	/* On etcd, every host of the fleet answers too (fleet_challenges.c): the record goes to the store first. */
	if (mgr_fleet_publishes_here() && (rc = mgr_fleet_challenge_put(ch->alpn_sni, chain, chain_len, key, key_len)) != 0)
		at_log_warn("tls-alpn-01 challenge for %s not shared with the fleet (%s): only this host answers",
			    ch->alpn_sni, at_strerror(rc));
	rc = mgr_publish_challenge(ch->alpn_sni, &chain, chain_len, &key, key_len);
	if (rc == 0)
		at_log_debug("tls-alpn-01 challenge published for %s", ch->alpn_sni);
	return rc;
}

static void alpn_cleanup(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	if (mgr_fleet_publishes_here())
		mgr_fleet_challenge_del(ch->alpn_sni);
	if (mgr_withdraw_challenge(ch->alpn_sni) != 0)
		at_log_warn("withdrawing the tls-alpn-01 challenge for %s failed", ch->alpn_sni);
}

void mgr_tlsalpn01_solver(struct at_solver *s)
{
	*s = (struct at_solver){ .type = AT_CHALLENGE_TLS_ALPN_01, .present = alpn_present, .cleanup = alpn_cleanup };
}
