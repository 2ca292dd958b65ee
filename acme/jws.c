/*
 * The account key and JSON Web Signatures (RFC 7515, flattened JSON serialisation; RFC 8555 section 6.2).
 *
 * This file is the only place that holds the account's private key (STYLE.md "Secrets and files"): callers get
 * signatures, the public JWK and the thumbprint, and a PEM only to store the key. The thumbprint is computed once
 * when the key is made or loaded, because every key authorization needs it. Nothing here logs: a JWS or its
 * payload never reaches a log line.
 */
#include "acme/jws.h"
#include "acme/jwk.h"
#include "acme/jws_hmac.h"
#include "util/b64.h"
#include "util/err.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct at_jws_key {
	EVP_PKEY *pkey;
	enum at_key_type type;
	const char *alg;     /* JWS "alg" (RFC 7518 section 3.1) */
	const char *md;      /* its digest */
	int coord;           /* ECDSA: bytes of R and of S (RFC 7518 section 3.4); 0 for RSA */
	char thumbprint[AT_JWK_THUMBPRINT_LEN + 1];
};

/* Takes ownership of *pkey on success (and nulls it). */
static int key_wrap(struct at_jws_key **out, EVP_PKEY **pkey)
{
	struct at_jws_key *k = NULL;
	enum at_key_type type;
	int rc;

	rc = at_key_type_of(&type, *pkey);
	if (rc != 0)
		return rc;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return AT_E_NOMEM;
	k->type = type;
	switch (type) {
	case AT_KEY_P256:
		k->alg = "ES256";
		k->md = "SHA256";
		k->coord = 32;
		break;
	case AT_KEY_P384:
		k->alg = "ES384";
		k->md = "SHA384";
		k->coord = 48;
		break;
	default:
		/* RFC 8555 section 6.2: servers MUST support ES256 and SHOULD support RS256; RS256 for every size. */
		k->alg = "RS256";
		k->md = "SHA256";
		k->coord = 0;
		break;
	}
	rc = at_jwk_thumbprint(k->thumbprint, *pkey);
	if (rc != 0) {
		free(k);
		return rc;
	}
	k->pkey = *pkey;
	*pkey = NULL;
	*out = k;
	return 0;
}

int at_jws_key_generate(struct at_jws_key **out, enum at_key_type type)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = at_key_generate(&pkey, type);
	if (rc != 0)
		return rc;
	rc = key_wrap(out, &pkey);
	EVP_PKEY_free(pkey);
	return rc;
}

int at_jws_key_from_pem(struct at_jws_key **out, const char *pem, size_t len)
{
	EVP_PKEY *pkey = NULL;
	int rc;

	rc = at_key_from_pem(&pkey, pem, len);
	if (rc != 0)
		return rc;
	rc = key_wrap(out, &pkey);
	EVP_PKEY_free(pkey);
	return rc;
}

int at_jws_key_to_pem(char **out, size_t *len, const struct at_jws_key *key)
{
	if (key == NULL)
		return AT_E_INVAL;
	return at_key_to_pem(out, len, key->pkey);
}

void at_jws_key_free(struct at_jws_key *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

const char *at_jws_key_alg(const struct at_jws_key *key)
{
	return key->alg;
}

int at_jws_key_jwk(cJSON **out, const struct at_jws_key *key)
{
	if (key == NULL)
		return AT_E_INVAL;
	return at_jwk_from_pkey(out, key->pkey);
}

const char *at_jws_key_thumbprint(const struct at_jws_key *key)
{
	return key->thumbprint;
}

/* DER ECDSA-Sig-Value to the fixed-size R||S JWS requires (RFC 7518 section 3.4). *raw is new (2 * coord). */
static int ecdsa_der_to_raw(unsigned char **raw, const unsigned char *der, size_t derlen, int coord)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = NULL;
	const BIGNUM *r, *s;
	unsigned char *buf = NULL;
	int rc = AT_E_CRYPTO;

	sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (sig == NULL || p != der + derlen)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	buf = malloc((size_t)coord * 2);
	if (buf == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	if (BN_bn2binpad(r, buf, coord) != coord || BN_bn2binpad(s, buf + coord, coord) != coord)
		goto out;
	*raw = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	ECDSA_SIG_free(sig);
	return rc;
}

int at_jws_sign_input(unsigned char **sig, size_t *siglen, const struct at_jws_key *key, const char *input,
		      size_t n)
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char *der = NULL;
	unsigned char *raw = NULL;
	size_t len = 0;
	int rc = AT_E_CRYPTO;

	if (key == NULL || input == NULL)
		return AT_E_INVAL;
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	/* For RSA keys the default padding is PKCS#1 v1.5, which is what RS256 means (RFC 7518 section 3.3). */
	if (!EVP_DigestSignInit_ex(ctx, NULL, key->md, NULL, NULL, key->pkey, NULL))
		goto out;
	if (!EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input, n))
		goto out;
	der = malloc(len);
	if (der == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	if (!EVP_DigestSign(ctx, der, &len, (const unsigned char *)input, n))
		goto out;
	if (key->coord == 0) {
		*sig = der;
		*siglen = len;
		der = NULL;
		rc = 0;
		goto out;
	}
	rc = ecdsa_der_to_raw(&raw, der, len, key->coord);
	if (rc != 0)
		goto out;
	*sig = raw;
	*siglen = (size_t)key->coord * 2;
	rc = 0;
out:
	free(der);
	EVP_MD_CTX_free(ctx);
	if (rc == AT_E_CRYPTO)
		ERR_clear_error();
	return rc;
}

/* b64url(text) */
static int b64_text(char **out, const char *text)
{
	return at_b64url_encode(out, text, strlen(text));
}

/* "a.b" as a new string. */
static int join_dot(char **out, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + 1 + lb + 1);

	if (s == NULL)
		return AT_E_NOMEM;
	memcpy(s, a, la);
	s[la] = '.';
	memcpy(s + la + 1, b, lb + 1);
	*out = s;
	return 0;
}

/*
 * Builds the flattened JWS object {"protected", "payload", "signature"} (RFC 7515 section 7.2.2) around an already
 * serialised protected header. sign() produces the signature over "protected.payload".
 */
typedef int (*sign_fn)(unsigned char **sig, size_t *siglen, const void *arg, const char *input, size_t n);

static int flattened(cJSON **out, const char *protected_json, const char *payload, sign_fn sign, const void *arg)
{
	char *prot_b64 = NULL;
	char *payload_b64 = NULL;
	char *input = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *sig_b64 = NULL;
	cJSON *jws = NULL;
	int rc;

	rc = b64_text(&prot_b64, protected_json);
	if (rc != 0)
		goto out;
	/* POST-as-GET (RFC 8555 section 6.3) signs an empty payload: the member is "" and the input ends in ".". */
	rc = b64_text(&payload_b64, payload != NULL ? payload : "");
	if (rc != 0)
		goto out;
	rc = join_dot(&input, prot_b64, payload_b64);
	if (rc != 0)
		goto out;
	rc = sign(&sig, &siglen, arg, input, strlen(input));
	if (rc != 0)
		goto out;
	rc = at_b64url_encode(&sig_b64, sig, siglen);
	if (rc != 0)
		goto out;
	jws = cJSON_CreateObject();
	if (jws == NULL || cJSON_AddStringToObject(jws, "protected", prot_b64) == NULL ||
	    cJSON_AddStringToObject(jws, "payload", payload_b64) == NULL ||
	    cJSON_AddStringToObject(jws, "signature", sig_b64) == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	*out = jws;
	jws = NULL;
	rc = 0;
out:
	cJSON_Delete(jws);
	free(sig_b64);
	free(sig);
	free(input);
	free(payload_b64);
	free(prot_b64);
	return rc;
}

static int sign_with_key(unsigned char **sig, size_t *siglen, const void *arg, const char *input, size_t n)
{
	return at_jws_sign_input(sig, siglen, arg, input, n);
}

int at_jws_sign(char **out, const struct at_jws_key *key, const char *url, const char *nonce, const char *kid,
		const char *payload)
{
	cJSON *prot = NULL;
	cJSON *jwk = NULL;
	cJSON *jws = NULL;
	char *prot_json = NULL;
	char *text = NULL;
	char *copy;
	int rc;

	if (out == NULL || key == NULL || url == NULL || nonce == NULL)
		return AT_E_INVAL;
	prot = cJSON_CreateObject();
	if (prot == NULL || cJSON_AddStringToObject(prot, "alg", key->alg) == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	/* RFC 8555 section 6.2: "jwk" only for newAccount and revocation by certificate key, "kid" otherwise. */
	if (kid != NULL) {
		if (cJSON_AddStringToObject(prot, "kid", kid) == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
	} else {
		rc = at_jwk_from_pkey(&jwk, key->pkey);
		if (rc != 0)
			goto out;
		if (!cJSON_AddItemToObject(prot, "jwk", jwk)) {
			rc = AT_E_NOMEM;
			goto out;
		}
		jwk = NULL; /* now owned by prot */
	}
	if (cJSON_AddStringToObject(prot, "nonce", nonce) == NULL ||
	    cJSON_AddStringToObject(prot, "url", url) == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	prot_json = cJSON_PrintUnformatted(prot);
	if (prot_json == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	rc = flattened(&jws, prot_json, payload, sign_with_key, key);
	if (rc != 0)
		goto out;
	text = cJSON_PrintUnformatted(jws);
	if (text == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	/* cJSON's allocator is malloc unless cJSON_InitHooks changed it; hand over a plain malloc'd copy. */
	copy = strdup(text);
	if (copy == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	*out = copy;
	rc = 0;
out:
	cJSON_free(text);
	cJSON_Delete(jws);
	cJSON_free(prot_json);
	cJSON_Delete(jwk);
	cJSON_Delete(prot);
	return rc;
}

struct hmac_arg {
	const unsigned char *key;
	size_t keylen;
};

static int sign_with_hmac(unsigned char **sig, size_t *siglen, const void *arg, const char *input, size_t n)
{
	const struct hmac_arg *h = arg;
	unsigned char *mac = malloc(AT_HS256_LEN);
	int rc;

	if (mac == NULL)
		return AT_E_NOMEM;
	rc = at_jws_hs256(mac, h->key, h->keylen, input, n);
	if (rc != 0) {
		free(mac);
		return rc;
	}
	*sig = mac;
	*siglen = AT_HS256_LEN;
	return 0;
}

int at_jws_eab(cJSON **out, const char *eab_kid, const char *eab_hmac_key_b64url, const struct at_jws_key *key,
	       const char *new_account_url)
{
	unsigned char *hkey = NULL;
	size_t hkeylen = 0;
	cJSON *prot = NULL;
	cJSON *jwk = NULL;
	char *prot_json = NULL;
	char *jwk_json = NULL;
	int rc;

	if (out == NULL || eab_kid == NULL || eab_hmac_key_b64url == NULL || key == NULL || new_account_url == NULL)
		return AT_E_INVAL;
	rc = at_b64url_decode(&hkey, &hkeylen, eab_hmac_key_b64url, strlen(eab_hmac_key_b64url));
	if (rc != 0)
		goto out;
	if (hkeylen == 0) {
		rc = AT_E_PARSE;
		goto out;
	}
	/* RFC 8555 section 7.3.4: protected {alg (a MAC), kid (the CA's key identifier), url}; no nonce. */
	prot = cJSON_CreateObject();
	if (prot == NULL || cJSON_AddStringToObject(prot, "alg", "HS256") == NULL ||
	    cJSON_AddStringToObject(prot, "kid", eab_kid) == NULL ||
	    cJSON_AddStringToObject(prot, "url", new_account_url) == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	prot_json = cJSON_PrintUnformatted(prot);
	/* The payload is the account key's JWK, the same as the outer "jwk" header. */
	rc = at_jwk_from_pkey(&jwk, key->pkey);
	if (rc != 0)
		goto out;
	jwk_json = cJSON_PrintUnformatted(jwk);
	if (prot_json == NULL || jwk_json == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	struct hmac_arg h = { hkey, hkeylen };
	rc = flattened(out, prot_json, jwk_json, sign_with_hmac, &h);
out:
	if (hkey != NULL)
		at_secret_free(hkey, hkeylen);
	cJSON_free(jwk_json);
	cJSON_Delete(jwk);
	cJSON_free(prot_json);
	cJSON_Delete(prot);
	return rc;
}

/* RFC 8555 section 8.1: the token is base64url; anything else would end up in a URL path or a file name. */
static int token_ok(const char *t)
{
	if (*t == '\0')
		return 0;
	for (; *t != '\0'; t++) {
		char c = *t;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return 0;
	}
	return 1;
}

int at_key_authorization(char **out, const char *token, const struct at_jws_key *key)
{
	if (out == NULL || token == NULL || key == NULL || !token_ok(token))
		return AT_E_INVAL;
	return join_dot(out, token, key->thumbprint);
}
