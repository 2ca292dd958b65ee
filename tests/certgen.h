/*
 * Test-only certificate factory: P-256 keys and certificates with chosen SANs, validity and issuer, as PEM.
 * Header-only (static functions) so unit and integration tests can share it without a harness object file.
 * Failures print and return NULL; the tests REQUIRE the result.
 */
#ifndef AUTOTLS_TESTS_CERTGEN_H
#define AUTOTLS_TESTS_CERTGEN_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static EVP_PKEY *cg_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (k == NULL)
		fprintf(stderr, "  certgen: key generation failed\n");
	return k;
}

static char *cg_bio_text(BIO *bio, size_t *len)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (out != NULL) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return out;
}

/* PKCS#8 PEM of key; free() it. */
static char *cg_key_pem(EVP_PKEY *key, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (bio && PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		out = cg_bio_text(bio, len);
	BIO_free(bio);
	return out;
}

static char *cg_cert_text(X509 *x, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;
	if (bio && PEM_write_bio_X509(bio, x))
		out = cg_bio_text(bio, len);
	BIO_free(bio);
	return out;
}

static int cg_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * A certificate for key, signed by issuer_key (issuer NULL: self-signed), with SANs san ("DNS:a,IP:1.2.3.4", may be
 * NULL), valid from now+nb_s to now+na_s, a CA when is_ca. Returns a new X509 (caller frees).
 */
static X509 *cg_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const char *cn, const char *san, long nb_s,
		     long na_s, int is_ca)
{
	static long serial = 1000;
	X509 *x = X509_new();
	int ok = x != NULL;

	ok = ok && X509_set_version(x, 2);
	ok = ok && ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), nb_s) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), na_s) != NULL;
	ok = ok && X509_set_pubkey(x, key);
	ok = ok && X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					      (const unsigned char *)cn, -1, -1, 0);
	ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	if (is_ca) {
		ok = ok && cg_add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		ok = ok && cg_add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
		ok = ok && cg_add_ext(x, issuer, NID_subject_key_identifier, "hash");
	} else {
		ok = ok && cg_add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
	}
	if (issuer != NULL)
		ok = ok && cg_add_ext(x, issuer, NID_authority_key_identifier, "keyid");
	if (san != NULL)
		ok = ok && cg_add_ext(x, issuer, NID_subject_alt_name, san);
	ok = ok && X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
	if (!ok) {
		fprintf(stderr, "  certgen: certificate for %s failed\n", cn);
		X509_free(x);
		return NULL;
	}
	return x;
}

/* A self-signed leaf for san, valid for a day, as PEM (free() both). */
static int cg_self_signed(char **key_pem, size_t *key_len, char **cert_pem, size_t *cert_len, const char *san)
{
	EVP_PKEY *k = cg_key();
	X509 *x = k ? cg_cert(k, NULL, NULL, "leaf", san, -60, 86400, 0) : NULL;
	*key_pem = x ? cg_key_pem(k, key_len) : NULL;
	*cert_pem = x ? cg_cert_text(x, cert_len) : NULL;
	X509_free(x);
	EVP_PKEY_free(k);
	return *key_pem != NULL && *cert_pem != NULL ? 0 : -1;
}

#endif
