/*
 * What each challenge type needs from the key authorization (RFC 8555 section 8):
 *   http-01 (8.3): the body served at /.well-known/acme-challenge/<token> is the key authorization itself;
 *   dns-01 (8.4): the TXT value at _acme-challenge.<name> is base64url(SHA-256(key authorization));
 *   tls-alpn-01 (RFC 8737 section 3): a self-signed certificate whose SAN is the identifier and which carries a
 *   critical id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31) extension: an OCTET STRING holding SHA-256(key
 *   authorization). For IP identifiers (RFC 8738 section 6) the SAN is an iPAddress; the SNI a validator sends
 *   is then the reverse-DNS name (at_reverse_dns_name).
 */
#ifndef AUTOTLS_ACME_CHALLENGE_DATA_H
#define AUTOTLS_ACME_CHALLENGE_DATA_H

#include "util/err.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

/* base64url(SHA-256(key_authorization)). *out new; caller frees. */
int at_dns01_txt_value(char **out, const char *key_authorization) AT_MUST_CHECK;

/* The TLS-ALPN-01 certificate and its key (a fresh P-256 key). Both are new; caller frees. */
int at_alpn01_cert_make(X509 **cert, EVP_PKEY **key, const char *identifier, const char *key_authorization)
	AT_MUST_CHECK;

/* "1.0.0.127.in-addr.arpa" for 127.0.0.1, nibble form under ip6.arpa for IPv6 (RFC 8738 section 6).
 * *out new; caller frees. AT_E_INVAL when ip is not an IP literal. */
int at_reverse_dns_name(char **out, const char *ip) AT_MUST_CHECK;

#endif
