/*
 * The public JWK of a key and its RFC 7638 thumbprint. Members are read through the OpenSSL 3 parameter API
 * (EVP_PKEY_get_bn_param), never through the deprecated EC_KEY / RSA structures.
 */
#include "acme/jwk.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* The largest member we encode: an RSA modulus of 8192 bits. Anything bigger is refused, not truncated. */
#define MAX_MEMBER_BYTES 1024

/*
 * Adds member name = base64url of the big-endian bytes of parameter param. pad > 0 left-pads to exactly pad bytes
 * (EC coordinates); pad == 0 writes the minimal form (RSA, where a value of zero would still be one octet).
 */
static int add_bn_member(cJSON *obj, const char *name, const EVP_PKEY *key, const char *param, int pad)
{
	BIGNUM *bn = NULL;
	unsigned char bytes[MAX_MEMBER_BYTES];
	char *text = NULL;
	int n;
	int rc = AT_E_CRYPTO;

	if (!EVP_PKEY_get_bn_param(key, param, &bn))
		goto out;
	if (pad > 0) {
		if (pad > (int)sizeof(bytes))
			goto out;
		n = BN_bn2binpad(bn, bytes, pad);
	} else {
		if (BN_num_bytes(bn) > (int)sizeof(bytes))
			goto out;
		n = BN_bn2bin(bn, bytes);
		if (n == 0) {
			bytes[0] = 0;
			n = 1;
		}
	}
	if (n < 0)
		goto out;
	rc = at_b64url_encode(&text, bytes, (size_t)n);
	if (rc != 0)
		goto out;
	if (cJSON_AddStringToObject(obj, name, text) == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	rc = 0;
out:
	free(text);
	BN_free(bn);
	if (rc == AT_E_CRYPTO)
		ERR_clear_error();
	return rc;
}

int at_jwk_from_pkey(cJSON **out, const EVP_PKEY *key)
{
	cJSON *jwk = NULL;
	int rc;

	if (key == NULL)
		return AT_E_INVAL;
	jwk = cJSON_CreateObject();
	if (jwk == NULL)
		return AT_E_NOMEM;

	/* Members are added in lexicographic order so that the unformatted print is the RFC 7638 canonical form. */
	if (EVP_PKEY_is_a(key, "RSA")) {
		rc = add_bn_member(jwk, "e", key, OSSL_PKEY_PARAM_RSA_E, 0);
		if (rc != 0)
			goto out;
		if (cJSON_AddStringToObject(jwk, "kty", "RSA") == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
		rc = add_bn_member(jwk, "n", key, OSSL_PKEY_PARAM_RSA_N, 0);
		if (rc != 0)
			goto out;
	} else if (EVP_PKEY_is_a(key, "EC")) {
		enum at_key_type type;
		const char *crv;
		int size;

		rc = at_key_type_of(&type, key);
		if (rc != 0)
			goto out;
		if (type == AT_KEY_P256) {
			crv = "P-256";
			size = 32;
		} else if (type == AT_KEY_P384) {
			crv = "P-384";
			size = 48;
		} else {
			rc = AT_E_UNSUPPORTED;
			goto out;
		}
		if (cJSON_AddStringToObject(jwk, "crv", crv) == NULL ||
		    cJSON_AddStringToObject(jwk, "kty", "EC") == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
		rc = add_bn_member(jwk, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, size);
		if (rc != 0)
			goto out;
		rc = add_bn_member(jwk, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, size);
		if (rc != 0)
			goto out;
	} else {
		rc = AT_E_UNSUPPORTED;
		goto out;
	}
	*out = jwk;
	jwk = NULL;
	rc = 0;
out:
	cJSON_Delete(jwk);
	return rc;
}

int at_jwk_thumbprint(char out[AT_JWK_THUMBPRINT_LEN + 1], const EVP_PKEY *key)
{
	cJSON *jwk = NULL;
	char *canon = NULL;
	char *b64 = NULL;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int rc;

	rc = at_jwk_from_pkey(&jwk, key);
	if (rc != 0)
		goto out;
	/*
	 * RFC 7638 section 3: no whitespace, members sorted, UTF-8. cJSON prints members in insertion order, and the
	 * values (base64url, "EC", "RSA", "P-256", "P-384") contain nothing cJSON would escape.
	 */
	canon = cJSON_PrintUnformatted(jwk);
	if (canon == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	if (!EVP_Digest(canon, strlen(canon), digest, NULL, EVP_sha256(), NULL)) {
		ERR_clear_error();
		rc = AT_E_CRYPTO;
		goto out;
	}
	rc = at_b64url_encode(&b64, digest, sizeof(digest));
	if (rc != 0)
		goto out;
	if (strlen(b64) != AT_JWK_THUMBPRINT_LEN) {
		rc = AT_E_CRYPTO;
		goto out;
	}
	memcpy(out, b64, AT_JWK_THUMBPRINT_LEN + 1);
	rc = 0;
out:
	free(b64);
	cJSON_free(canon);
	cJSON_Delete(jwk);
	return rc;
}
