/*
 * Internal to acme/: the public JWK of a key (RFC 7517, members per RFC 7518 section 6) and its RFC 7638
 * thumbprint. Split from jws.c so the thumbprint can be tested against the RFC's own example, which is a bare
 * public key; jws.c stays the only module that holds the account's private key.
 */
#ifndef AUTOTLS_ACME_JWK_H
#define AUTOTLS_ACME_JWK_H

#include "util/err.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>

/* base64url of a SHA-256 digest: 43 characters. */
#define AT_JWK_THUMBPRINT_LEN 43

/*
 * The JWK with only the required members, in the lexicographic order RFC 7638 section 3.2 fixes:
 * EC: crv, kty, x, y (coordinates left-padded to the field size, RFC 7518 section 6.2.1.2);
 * RSA: e, kty, n (minimal big-endian, RFC 7518 section 6.3.1.1).
 * key is borrowed (public part suffices). *out is new; cJSON_Delete it. Returns 0, AT_E_UNSUPPORTED, AT_E_CRYPTO,
 * AT_E_NOMEM.
 */
int at_jwk_from_pkey(cJSON **out, const EVP_PKEY *key) AT_MUST_CHECK;

/* The thumbprint into out (AT_JWK_THUMBPRINT_LEN characters and a NUL). key is borrowed. */
int at_jwk_thumbprint(char out[AT_JWK_THUMBPRINT_LEN + 1], const EVP_PKEY *key) AT_MUST_CHECK;

#endif
