/*
 * Internal to acme/: HMAC-SHA256 ("HS256", RFC 7518 section 3.2) for the external account binding
 * (RFC 8555 section 7.3.4). Apart from jws.c so the RFC 7515 Appendix A.1 vector can test it directly.
 */
#ifndef AUTOTLS_ACME_JWS_HMAC_H
#define AUTOTLS_ACME_JWS_HMAC_H

#include "util/err.h"

#include <stddef.h>

#define AT_HS256_LEN 32

/* mac = HMAC-SHA256(key, input). key and input are borrowed. Returns 0, AT_E_INVAL (empty key), AT_E_CRYPTO. */
int at_jws_hs256(unsigned char mac[AT_HS256_LEN], const unsigned char *key, size_t keylen, const void *input,
		 size_t n) AT_MUST_CHECK;

#endif
