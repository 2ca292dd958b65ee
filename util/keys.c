/*
 * Private keys: generation by type, PKCS#8 PEM out, PEM in.
 *
 * Only OpenSSL 3 provider APIs are used (EVP_PKEY_Q_keygen, EVP_PKEY_get_group_name), never the deprecated
 * EC_KEY / RSA structures. PEM text of a private key is a secret: every copy we make is cleansed before it is
 * freed, and the copy handed out must be released with at_secret_free().
 */
#include "util/keys.h"
#include "util/err.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int at_key_generate(EVP_PKEY **out, enum at_key_type type)
{
	EVP_PKEY *k = NULL;

	switch (type) {
	case AT_KEY_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case AT_KEY_P384:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case AT_KEY_RSA2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case AT_KEY_RSA3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	case AT_KEY_RSA4096:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
		break;
	default:
		return AT_E_INVAL;
	}
	if (k == NULL) {
		ERR_clear_error();
		return AT_E_CRYPTO;
	}
	*out = k;
	return 0;
}

int at_key_type_of(enum at_key_type *out, const EVP_PKEY *key)
{
	if (key == NULL)
		return AT_E_INVAL;
	/* EVP_PKEY_is_a("RSA") is false for RSA-PSS keys, which ACME CAs do not accept for certificates. */
	if (EVP_PKEY_is_a(key, "RSA")) {
		switch (EVP_PKEY_get_bits(key)) {
		case 2048:
			*out = AT_KEY_RSA2048;
			return 0;
		case 3072:
			*out = AT_KEY_RSA3072;
			return 0;
		case 4096:
			*out = AT_KEY_RSA4096;
			return 0;
		default:
			return AT_E_UNSUPPORTED;
		}
	}
	if (EVP_PKEY_is_a(key, "EC")) {
		char group[64];
		size_t glen = 0;

		if (!EVP_PKEY_get_group_name(key, group, sizeof(group), &glen)) {
			ERR_clear_error();
			return AT_E_UNSUPPORTED;
		}
		/* Providers report the short name ("prime256v1") or the NIST name ("P-256"); compare by NID. */
		int nid = OBJ_sn2nid(group);
		if (nid == NID_undef)
			nid = EC_curve_nist2nid(group);
		if (nid == NID_X9_62_prime256v1) {
			*out = AT_KEY_P256;
			return 0;
		}
		if (nid == NID_secp384r1) {
			*out = AT_KEY_P384;
			return 0;
		}
	}
	return AT_E_UNSUPPORTED;
}

int at_key_to_pem(char **out, size_t *len, EVP_PKEY *key)
{
	BIO *bio = NULL;
	char *copy = NULL;
	char *data = NULL;
	long n;
	int rc = AT_E_CRYPTO;

	if (key == NULL)
		return AT_E_INVAL;
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		goto out;
	/* PKCS#8 ("BEGIN PRIVATE KEY") whatever the key type, unencrypted: the store protects it with file modes. */
	if (!PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		goto out;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || data == NULL)
		goto out;
	copy = malloc((size_t)n + 1);
	if (copy == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	*len = (size_t)n;
	copy = NULL;
	rc = 0;
out:
	if (bio != NULL) {
		/* The memory BIO's buffer holds the key too; wipe it before BIO_free releases it. */
		n = BIO_get_mem_data(bio, &data);
		if (n > 0 && data != NULL)
			OPENSSL_cleanse(data, (size_t)n);
		BIO_free(bio);
	}
	if (rc != 0)
		ERR_clear_error();
	return rc;
}

/* Refuses encrypted PEM instead of letting OpenSSL's default callback prompt on the server's terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int at_key_from_pem(EVP_PKEY **out, const char *pem, size_t len)
{
	BIO *bio = NULL;
	EVP_PKEY *k = NULL;

	if (pem == NULL || len == 0 || len > INT_MAX)
		return AT_E_PARSE;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (bio == NULL)
		return AT_E_NOMEM;
	k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (k == NULL) {
		ERR_clear_error();
		return AT_E_PARSE;
	}
	*out = k;
	return 0;
}

void at_secret_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}
