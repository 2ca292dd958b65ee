/*
 * Certificate checks shared by the store (before promoting a new certificate) and the tests: parse a PEM chain,
 * check that the key matches the leaf, that the names are covered, and read what a log line or a renewal
 * decision needs. Every parse is bounded (AT_CHAIN_MAX_PEM bytes, AT_CHAIN_MAX_CERTS certificates).
 */
#ifndef AUTOTLS_UTIL_X509_H
#define AUTOTLS_UTIL_X509_H

#include "util/err.h"

#include <openssl/x509.h>
#include <stddef.h>
#include <time.h>

#define AT_CHAIN_MAX_PEM (1024 * 1024)
#define AT_CHAIN_MAX_CERTS 10

struct at_cert_info {
	time_t not_before;
	time_t not_after;
	char subject[256];  /* one-line RFC 2253 form, truncated */
	char issuer[256];
	char serial[80];    /* hex */
	char **names;       /* owned: SAN dNSName and iPAddress values (IP as text), lowercase */
	size_t nnames;
};

/* Parses a PEM chain, leaf first. *out (caller frees with sk_X509_pop_free(.., X509_free)) has >= 1 certificate.
 * Returns 0, AT_E_PARSE (no certificate, or garbage between), AT_E_TOOBIG. */
int at_chain_parse(STACK_OF(X509) **out, const char *pem, size_t len) AT_MUST_CHECK;

/* Fills info from a certificate. Free with at_cert_info_clear. */
int at_cert_info_get(struct at_cert_info *info, X509 *cert) AT_MUST_CHECK;
void at_cert_info_clear(struct at_cert_info *info);

/* Flags for at_chain_check. */
#define AT_CHECK_NAMES_EXACT 0x1 /* the leaf's SANs are exactly the names, not a superset */
#define AT_CHECK_NOT_EXPIRED 0x2 /* now is before notAfter. A notBefore ahead of this host's clock is not
				  * checked: that is the host's clock behind the CA's, and throwing the
				  * certificate away would only make us order it again and again */
#define AT_CHECK_CHAIN_LINKED 0x4 /* each certificate is issued and signed by the next; a lone self-issued leaf
				   * is signed by its own key (no trust anchor needed: what a CA's answer must be) */

/*
 * The checks a new certificate must pass before it is served: the chain parses, the key matches the leaf, every
 * name is covered by a SAN (a wildcard SAN covers one label), with AT_CHECK_CHAIN_LINKED the chain hangs
 * together, and with trust != NULL the chain verifies to it.
 * info may be NULL. Returns 0, AT_E_PARSE, AT_E_KEY_MISMATCH, AT_E_NAMES, AT_E_EXPIRED or AT_E_CHAIN.
 */
int at_chain_check(const char *chain_pem, size_t chain_len, const char *key_pem, size_t key_len,
		   const char *const *names, size_t nnames, X509_STORE *trust, unsigned flags,
		   struct at_cert_info *info) AT_MUST_CHECK;

/* A trust store holding the certificates in a PEM file (or PEM text). Caller frees with X509_STORE_free. */
int at_trust_from_pem_file(X509_STORE **out, const char *path) AT_MUST_CHECK;
int at_trust_from_pem(X509_STORE **out, const char *pem, size_t len) AT_MUST_CHECK;

#endif
