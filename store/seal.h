/*
 * Sealing of store values at rest (AUTOTLS_STORAGE_KEY): AES-256-GCM through OpenSSL EVP, with the value's store
 * key and the format version authenticated as associated data, so a sealed value is refused if it is changed,
 * cut, or moved under another key. See store/seal.c for the format.
 */
#ifndef AUTOTLS_STORE_SEAL_H
#define AUTOTLS_STORE_SEAL_H

#include "util/err.h"

#include <stddef.h>

#define AT_SEAL_KEY_LEN 32
#define AT_SEAL_ID_LEN 8
#define AT_SEAL_OVERHEAD (4 + 1 + AT_SEAL_ID_LEN + 12 + 16)

struct at_seal_key {
	unsigned char k[AT_SEAL_KEY_LEN];
	unsigned char id[AT_SEAL_ID_LEN]; /* the first bytes of SHA-256("autotls seal key id" || k): tells a wrong key
					   * from a damaged value without revealing anything of k */
};

/* Reads a key file: 64 hex digits (openssl rand -hex 32), a trailing newline allowed, or 32 raw bytes. Warns when
 * others may read it. *out new, freed with at_seal_key_free (cleansed). 0, AT_E_NOTFOUND, AT_E_PERM, AT_E_PARSE
 * (not a key of that shape) or AT_E_NOMEM. */
int at_seal_key_load(struct at_seal_key **out, const char *path) AT_MUST_CHECK;
/* The same from 32 bytes in memory (tests). */
int at_seal_key_from_bytes(struct at_seal_key **out, const unsigned char *k, size_t n) AT_MUST_CHECK;
void at_seal_key_free(struct at_seal_key *k);

/* 1 when v starts like a sealed value (the magic), else 0. */
int at_seal_is_sealed(const void *v, size_t n);

/* Seals n bytes of in for store key name. *out new (free()), *outlen = n + AT_SEAL_OVERHEAD. 0, AT_E_CRYPTO,
 * AT_E_NOMEM. */
int at_seal(const struct at_seal_key *k, const char *name, const void *in, size_t n, unsigned char **out,
	    size_t *outlen) AT_MUST_CHECK;

/* Opens a sealed value of store key name. *out new and NUL-terminated (at_secret_free(*out, *outlen)).
 * Returns 0; AT_E_KEY_MISMATCH (sealed with another key: the key ids differ); AT_E_CRYPTO (not a sealed value of
 * this version, or it was changed, cut or moved: authentication failed); AT_E_NOMEM. */
int at_unseal(const struct at_seal_key *k, const char *name, const void *in, size_t n, char **out,
	      size_t *outlen) AT_MUST_CHECK;

#endif
