/*
 * The certificate signing request for finalize (RFC 8555 section 7.4): the names as subjectAltName (dNSName, or
 * iPAddress for RFC 8738 IP identifiers), no Common Name (Let's Encrypt's tlsserver and shortlived profiles
 * reject or ignore it, and a name over 64 characters cannot be a CN at all), signed by the certificate key.
 */
#ifndef AUTOTLS_ACME_CSR_H
#define AUTOTLS_ACME_CSR_H

#include "util/err.h"

#include <openssl/evp.h>
#include <stddef.h>

/* DER of the CSR; *der (caller frees) is *len bytes. Returns 0, AT_E_INVAL (no names, bad IP), AT_E_CRYPTO. */
int at_csr_make(unsigned char **der, size_t *len, EVP_PKEY *key, const char *const *names, size_t nnames)
	AT_MUST_CHECK;
/* at_csr_make, with must_staple also asking for the TLS Feature extension status_request (RFC 7633,
 * AUTOTLS_MUST_STAPLE): a CA that honours it issues a certificate that clients accept only with a staple. */
int at_csr_make_ex(unsigned char **der, size_t *len, EVP_PKEY *key, const char *const *names, size_t nnames,
		   int must_staple) AT_MUST_CHECK;

/* 1 when s is an IPv4 or IPv6 literal (identifier type "ip", RFC 8738), else 0. */
int at_name_is_ip(const char *s);

#endif
