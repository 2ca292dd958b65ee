/*
 * Throwaway certificates for tests, made with OpenSSL's C API: a CA, a leaf it signs (Pebble's listener
 * certificate), a self-signed leaf, or a chain with chosen validity windows and SANs (the unit tests of the
 * chain checks). Keys are P-256. Every certificate is made by harness_cert_sign: a random 120-bit serial, subject
 * and authority key identifiers, and either CA:TRUE with keyCertSign (a CA) or CA:FALSE with digitalSignature
 * and serverAuth (a leaf). Never used outside tests.
 */
#ifndef AUTOTLS_TESTS_HARNESS_CERTGEN_H
#define AUTOTLS_TESTS_HARNESS_CERTGEN_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* A fresh P-256 key (EVP_PKEY_free), or NULL (and says so). */
EVP_PKEY *harness_key_p256(void);

/*
 * A certificate for key with subject CN cn, signed by issuer_key under issuer's name (both NULL: self-signed
 * with key), SANs san ("DNS:a.test,IP:192.0.2.1"; NULL: none), valid from now+not_before_s to now+not_after_s
 * (seconds, either may be negative), a CA when is_ca. A new X509 the caller frees, or NULL (and says so).
 */
X509 *harness_cert_sign(EVP_PKEY *key, const char *cn, const char *san, long not_before_s, long not_after_s,
			int is_ca, X509 *issuer, EVP_PKEY *issuer_key);

/*
 * Makes a certificate for a fresh P-256 key, valid from an hour ago for `days` days.
 * cn: subject CN. dns / ip: one SAN each, either may be NULL. is_ca: a CA certificate (basicConstraints CA:TRUE,
 * keyCertSign) instead of a server leaf. issuer / issuer_key: the signer; both NULL for self-signed.
 * On success returns 0 and two new objects the caller frees (X509_free, EVP_PKEY_free); -1 otherwise.
 */
int harness_cert_make(X509 **cert_out, EVP_PKEY **key_out, const char *cn, const char *dns, const char *ip,
		      int is_ca, X509 *issuer, EVP_PKEY *issuer_key, int days);

/*
 * A self-signed leaf (CN "leaf") for a fresh key with SANs san, valid from a minute ago for a day, as PEM: the
 * PKCS#8 key and the certificate, new strings the caller frees (lengths without the final NUL). 0, or -1 with
 * nothing to free.
 */
int harness_self_signed_pem(char **key_pem, size_t *key_len, char **cert_pem, size_t *cert_len, const char *san);

/*
 * A leaf for name (CN and one DNS SAN) under inter (signed with inter_key), valid for days, as the store and the
 * publisher take it: *chain the leaf's PEM then inter's, *key the leaf's PKCS#8 PEM; new strings, the key freed
 * with at_secret_free(*key, *key_len). 0, or -1 with nothing to free.
 */
int harness_leaf_chain_pem(char **chain, size_t *chain_len, char **key, size_t *key_len, const char *name,
			   X509 *inter, EVP_PKEY *inter_key, int days);

/* PEM of a certificate / of a private key (PKCS#8, unencrypted): a new string the caller frees (*len, when not
 * NULL, its length), or NULL. */
char *harness_cert_pem(X509 *cert, size_t *len);
char *harness_key_pem(EVP_PKEY *key, size_t *len);

/* What a memory BIO holds, as a new NUL-terminated string the caller frees (*len, when not NULL, its length). */
char *harness_bio_text(BIO *bio, size_t *len);

/* Writes PEM of a certificate (0644) / a PKCS#8 private key (0600, exclusive create) to path. 0 or -1. */
int harness_write_cert_pem(const char *path, X509 *cert);
int harness_write_key_pem(const char *path, EVP_PKEY *key);

#endif
