/*
 * Private keys: generation by type, PEM in and out. PEM text of a private key is a secret: it is returned in
 * memory the caller must release with at_secret_free(), which cleanses it first.
 */
#ifndef AUTOTLS_UTIL_KEYS_H
#define AUTOTLS_UTIL_KEYS_H

#include "util/err.h"

#include <openssl/evp.h>
#include <stddef.h>

enum at_key_type {
	AT_KEY_P256 = 0, /* default: what Let's Encrypt recommends and every client supports */
	AT_KEY_P384,
	AT_KEY_RSA2048,
	AT_KEY_RSA3072,
	AT_KEY_RSA4096,
};

/* "p256", "p384", "rsa2048", "rsa3072", "rsa4096" (case-insensitive). Returns 0 or AT_E_INVAL. */
int at_key_type_parse(enum at_key_type *out, const char *s) AT_MUST_CHECK;
const char *at_key_type_name(enum at_key_type type);

/* A new key; the caller frees it with EVP_PKEY_free. Returns 0, AT_E_INVAL or AT_E_CRYPTO. */
int at_key_generate(EVP_PKEY **out, enum at_key_type type) AT_MUST_CHECK;

/* The key's type, or AT_E_UNSUPPORTED for anything we do not issue with. */
int at_key_type_of(enum at_key_type *out, const EVP_PKEY *key) AT_MUST_CHECK;

/* PKCS#8 PEM of a private key. *out is NUL-terminated, *len excludes the NUL; free with at_secret_free. */
int at_key_to_pem(char **out, size_t *len, EVP_PKEY *key) AT_MUST_CHECK;

/* Parses a private key PEM (PKCS#8 or traditional). Returns 0, AT_E_PARSE. The caller frees *out. */
int at_key_from_pem(EVP_PKEY **out, const char *pem, size_t len) AT_MUST_CHECK;

/* Cleanses len bytes of p and frees it; NULL is fine. */
void at_secret_free(void *p, size_t len);

#endif
