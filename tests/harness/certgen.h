/*
 * Throwaway certificates for tests, made with OpenSSL's C API: a CA, a leaf it signs (Pebble's listener
 * certificate), or a self-signed leaf. Keys are P-256 (RSA with harness_cert_rsa_bits). Never used outside
 * tests.
 */
#ifndef AUTOTLS_TESTS_HARNESS_CERTGEN_H
#define AUTOTLS_TESTS_HARNESS_CERTGEN_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * Makes a certificate for a fresh P-256 key, valid from an hour ago for `days` days.
 * cn: subject CN. dns / ip: one SAN each, either may be NULL. is_ca: a CA certificate (basicConstraints CA:TRUE,
 * keyCertSign) instead of a server leaf. issuer / issuer_key: the signer; both NULL for self-signed.
 * On success returns 0 and two new objects the caller frees (X509_free, EVP_PKEY_free); -1 otherwise.
 */
int harness_cert_make(X509 **cert_out, EVP_PKEY **key_out, const char *cn, const char *dns, const char *ip,
		      int is_ca, X509 *issuer, EVP_PKEY *issuer_key, int days);

/* Above 0: the next harness_cert_make calls make RSA keys of that many bits instead of P-256. Default 0. */
extern int harness_cert_rsa_bits;

/* Writes PEM of a certificate (0644) / a PKCS#8 private key (0600, exclusive create) to path. 0 or -1. */
int harness_write_cert_pem(const char *path, X509 *cert);
int harness_write_key_pem(const char *path, EVP_PKEY *key);

#endif
