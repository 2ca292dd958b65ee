/*
 * Certificates OpenSSL would refuse in a handshake, found when a snapshot is built, not per handshake.
 *
 * SSL_use_cert_and_key refuses a certificate whose key or signature is weaker than the connection's security
 * level asks for (SSL_CTX_set_security_level(3): 128-bit keys and signatures, so an RSA-2048 intermediate is
 * out) or whose key does not match. The certificate callback clears the host's certificates before it installs
 * ours, so such a refusal used to fail every managed handshake where the host's own certificate would have
 * worked. Here each parsed record is tried once on a probe connection at every level, highest first (a
 * certificate a level accepts, every lower level accepts too), and the levels that refuse it travel with the
 * snapshot (cache_cert.refused_levels): the handshake then keeps the host's certificate at those levels.
 *
 * The probe context and connection belong to this file, used only under mgr_publish_mu (the sync's lock); they
 * are made with the thread marked as the manager's, so the preload does not hook them. The log is the manager
 * thread's: once per certificate (by serial) and level seen, when handshakes of this process actually met the
 * refusal (cache_refused_seen), so a level no context uses never fills the log.
 */
#include "shim/manager/manager.h"
#include "util/err.h"
#include "util/log.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define TOP_LEVEL 5
#define LOGGED_MAX 64

static SSL_CTX *probe_ctx; /* owned here for the life of the process; under mgr_publish_mu */
static SSL *probe;

static int probe_ready(void)
{
	if (probe != NULL)
		return 0;
	if (mgr_host->set_in_manager)
		mgr_host->set_in_manager(1);
	probe_ctx = SSL_CTX_new(TLS_server_method());
	probe = probe_ctx ? SSL_new(probe_ctx) : NULL;
	if (mgr_host->set_in_manager)
		mgr_host->set_in_manager(0);
	if (probe == NULL) {
		SSL_CTX_free(probe_ctx);
		probe_ctx = NULL;
		ERR_clear_error();
		return AT_E_NOMEM;
	}
	return 0;
}

/* The probe on p: the highest level first (a level that accepts it means every lower one does too). OpenSSL's
 * error queue is left as it was (marks): on a server's thread it may hold the host's own errors. */
static void levels_on(SSL *p, X509 *leaf, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned *levels, const char **why)
{
	unsigned mask = 0;
	const char *reason = NULL;
	for (int l = TOP_LEVEL; l >= 0; l--) {
		SSL_set_security_level(p, l);
		ERR_set_mark();
		int ok = SSL_use_cert_and_key(p, leaf, key, chain, 1) == 1;
		if (!ok)
			reason = ERR_reason_error_string(ERR_peek_last_error());
		ERR_pop_to_mark();
		if (ok) {
			SSL_certs_clear(p);
			break;
		}
		mask |= 1u << l;
	}
	*levels = mask;
	*why = reason;
}

int mgr_refused_levels(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned *levels, const char **why)
{
	int rc = probe_ready();
	if (rc != 0)
		return rc;
	levels_on(probe, leaf, key, chain, levels, why);
	return 0;
}

int mgr_refusal_ready(void)
{
	return probe_ready();
}

int mgr_refused_levels_fresh(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) *chain, unsigned *levels, const char **why)
{
	/* probe_ctx was made under mgr_publish_mu before any snapshot with lazy entries was published (the
	 * snapshot's atomic publication orders it before this read); SSL_new on it is thread-safe. */
	SSL *p = probe_ctx ? SSL_new(probe_ctx) : NULL;
	if (p == NULL)
		return AT_E_NOMEM;
	levels_on(p, leaf, key, chain, levels, why);
	SSL_free(p);
	return 0;
}

/* What has been logged: a certificate's serial and the levels it was logged for. The manager thread's. */
static struct {
	char serial[2 * 20 + 1];
	unsigned levels;
} logged[LOGGED_MAX];
static size_t nlogged, next_slot;

static void serial_text(const X509 *leaf, char *out, size_t cap)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
	size_t n = 0;
	out[0] = '\0';
	for (int i = 0; sn && i < sn->length && n + 3 <= cap; i++)
		n += (size_t)snprintf(out + n, cap - n, "%02X", sn->data[i]);
}

/* The logged entry for serial, made (the oldest replaced when full) when there is none. */
static unsigned *logged_levels(const char *serial)
{
	for (size_t i = 0; i < nlogged; i++)
		if (strcmp(logged[i].serial, serial) == 0)
			return &logged[i].levels;
	size_t i = nlogged < LOGGED_MAX ? nlogged++ : next_slot++ % LOGGED_MAX;
	snprintf(logged[i].serial, sizeof(logged[i].serial), "%s", serial);
	logged[i].levels = 0;
	return &logged[i].levels;
}

void mgr_report_refusals(void)
{
	unsigned seen = mgr_host->refused_seen ? mgr_host->refused_seen() : 0;
	const struct cache_snapshot *s;
	if (seen == 0 || mgr_host->current == NULL || (s = mgr_host->current()) == NULL)
		return;
	for (size_t i = 0; i < s->ncerts; i++) {
		struct cache_cert tmp;
		const struct cache_cert *c = mgr_cert_parsed(&s->certs[i], &tmp);
		unsigned hit = c ? c->refused_levels & seen : 0; /* not parsed yet: no handshake used it */
		if (hit == 0)
			continue;
		char serial[2 * 20 + 1];
		serial_text(c->leaf, serial, sizeof(serial));
		unsigned *done = logged_levels(serial);
		if ((hit & ~*done) == 0)
			continue;
		int level = 0;
		while (!((hit & ~*done) & (1u << level)))
			level++;
		*done |= hit;
		at_log_warn("OpenSSL refuses the managed certificate for %s (serial %s) at security level %d (%s): "
			    "handshakes at that level get the server's own certificate; the fix is a CA (AUTOTLS_CA) whose "
			    "chain meets the level, or a lower level in the server's configuration",
			    c->name, serial, level, c->refused_why ? c->refused_why : "no reason given");
	}
}
