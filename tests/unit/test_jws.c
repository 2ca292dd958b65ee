/*
 * JWS, JWK and EAB: known answers from RFC 7515 Appendix A.1 (HS256) and A.2 (RS256) and RFC 7638 section 3.1
 * (thumbprint); ECDSA signatures checked by verifying them with a key rebuilt from our own JWK.
 */
#include "acme/jwk.h"
#include "acme/jws.h"
#include "acme/jws_hmac.h"
#include "tests/test.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/keys.h"

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

/* RFC 7515 Appendix A.1-A.3: the JWS Payload, base64url. */
static const char rfc7515_payload_b64[] = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
					  "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

/* RFC 7515 Appendix A.2.1: the RSA key. */
static const char a2_n[] =
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-"
	"pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2Ca"
	"pHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb5"
	"4h4FRWyuXpoQ";
static const char a2_e[] = "AQAB";
static const char a2_d[] =
	"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-"
	"pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBju"
	"dU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p"
	"1DhOVRuOopznQ";
static const char a2_p[] = "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJ"
			   "NPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc";
static const char a2_q[] = "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_Yw"
			   "D66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc";
static const char a2_dp[] = "BwKfV3Akq5_MFZDFZCnW-wzl-CCo83WoZvnLQwCTeDv8uzluRSnm71I3QCLdhrqE2e9YkxvuxdBfpT_PI7Yz-FOKnu1R6Hs"
			    "JeDCjn12Sk3vmAktV2zb34MCdy7cpdTh_YVr7tss2u6vneTwrA86rZtu5Mbr1C1XsmvkxHQAdYo0";
static const char a2_dq[] = "h_96-mK1R_7glhsum81dZxjTnYynPbZpHziZjeeHcXYsXaaMwkOlODsWa7I9xXDoRwbKgB719rrmI2oKr6N3Do9U0ajaHF-"
			    "NKJnwgjMd2w9cjz3_-kyNlxAr2v4IKhGNpmM5iIgOS1VZnOZ68m6_pbLBSp3nssTdlqvd0tIiTHU";
static const char a2_qi[] = "IYd7DHOhrWvxkwPQsRM2tOgrjbcrfvtQJipd-DlcxyVuuM9sQLdgjVk2oy26F0EmpScGLq2MowX7fhd_QJQ3ydy5cY7YIBi"
			    "87w93IKLEdfnbJtoOPLUW0ITrJReOgo1cq9SbsxYawBgfp_gh6A5603k2-ZQwVK0JKSHuLFkuQ3U";
/* RFC 7515 Appendix A.2.1: the expected signature. */
static const char a2_sig[] =
	"cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr"
	"7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--"
	"xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_Io"
	"ypGlUPQGe77Rw";

/* RFC 7638 section 3.1: the example RSA public key and its thumbprint. */
static const char rfc7638_n[] =
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3ok"
	"njhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz"
	"u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
	"awapJzKnqDKgw";
static const char rfc7638_thumb[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* Decodes base64url into a new buffer or returns NULL. */
static unsigned char *unb64(const char *s, size_t *len)
{
	unsigned char *d = NULL;

	if (at_b64url_decode(&d, len, s, strlen(s)) != 0)
		return NULL;
	return d;
}

static char *unb64_text(const char *s)
{
	size_t len = 0;
	unsigned char *d = unb64(s, &len);
	char *t;

	if (d == NULL)
		return NULL;
	t = malloc(len + 1);
	if (t != NULL) {
		memcpy(t, d, len);
		t[len] = '\0';
	}
	free(d);
	return t;
}

/* Pushes a base64url big number into bld; BIGNUMs are collected in bns for freeing. */
static int push_bn(OSSL_PARAM_BLD *bld, const char *name, const char *b64, BIGNUM **slot)
{
	size_t len = 0;
	unsigned char *bytes = unb64(b64, &len);
	int ok;

	if (bytes == NULL)
		return 0;
	*slot = BN_bin2bn(bytes, (int)len, NULL);
	free(bytes);
	ok = *slot != NULL && OSSL_PARAM_BLD_push_BN(bld, name, *slot);
	return ok;
}

/* An RSA EVP_PKEY from JWK members; private members may be NULL for a public key. */
static EVP_PKEY *rsa_from_jwk(const char *n, const char *e, const char *d, const char *p, const char *q,
			      const char *dp, const char *dq, const char *qi)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	BIGNUM *bns[8] = { 0 };
	int ok = bld != NULL;

	ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_N, n, &bns[0]);
	ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_E, e, &bns[1]);
	if (d != NULL) {
		ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_D, d, &bns[2]);
		ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p, &bns[3]);
		ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q, &bns[4]);
		ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp, &bns[5]);
		ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq, &bns[6]);
		ok = ok && push_bn(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi, &bns[7]);
	}
	if (ok)
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params != NULL)
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0)
		(void)EVP_PKEY_fromdata(ctx, &key, d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	for (size_t i = 0; i < 8; i++)
		BN_clear_free(bns[i]);
	return key;
}

/* An EC public EVP_PKEY rebuilt from our JWK's crv, x and y (so the JWK itself is checked too). */
static EVP_PKEY *ec_from_jwk(const cJSON *jwk)
{
	const char *crv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "crv"));
	const char *xs = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "x"));
	const char *ys = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "y"));
	unsigned char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	unsigned char point[1 + 2 * 66];
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[3];

	if (crv == NULL || xs == NULL || ys == NULL)
		return NULL;
	x = unb64(xs, &xl);
	y = unb64(ys, &yl);
	if (x == NULL || y == NULL || xl != yl || xl > 66)
		goto out;
	point[0] = 0x04; /* uncompressed, SEC 1 section 2.3.3 */
	memcpy(point + 1, x, xl);
	memcpy(point + 1 + xl, y, yl);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)crv, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * xl);
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0)
		(void)EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
out:
	EVP_PKEY_CTX_free(ctx);
	free(x);
	free(y);
	return key;
}

/* Verifies a JWS R||S signature with pub by converting it back to DER. Returns 1 when valid. */
static int ecdsa_raw_verify(EVP_PKEY *pub, const char *md, const unsigned char *sig, size_t siglen,
			    const char *input)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(siglen / 2), NULL);
	BIGNUM *s = BN_bin2bn(sig + siglen / 2, (int)(siglen / 2), NULL);
	unsigned char *der = NULL;
	int derlen, ok = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (es == NULL || r == NULL || s == NULL || ctx == NULL || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;
	derlen = i2d_ECDSA_SIG(es, &der);
	if (derlen <= 0)
		goto out;
	ok = EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, pub, NULL) == 1 &&
	     EVP_DigestVerify(ctx, der, (size_t)derlen, (const unsigned char *)input, strlen(input)) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

static void test_rs256_rfc7515_a2(void)
{
	EVP_PKEY *pkey = rsa_from_jwk(a2_n, a2_e, a2_d, a2_p, a2_q, a2_dp, a2_dq, a2_qi);
	struct at_jws_key *key = NULL;
	char *pem = NULL, *input = NULL;
	size_t pemlen = 0, siglen = 0, explen = 0;
	unsigned char *sig = NULL, *expected = NULL;

	REQUIRE(pkey != NULL);
	/* Through PEM, the way a stored account key is loaded. */
	CHECK_OK(at_key_to_pem(&pem, &pemlen, pkey));
	EVP_PKEY_free(pkey);
	REQUIRE(pem != NULL);
	CHECK_OK(at_jws_key_from_pem(&key, pem, pemlen));
	at_secret_free(pem, pemlen);
	REQUIRE(key != NULL);
	CHECK_STR(at_jws_key_alg(key), "RS256");

	input = malloc(strlen("eyJhbGciOiJSUzI1NiJ9.") + sizeof(rfc7515_payload_b64));
	REQUIRE(input != NULL);
	strcpy(input, "eyJhbGciOiJSUzI1NiJ9.");
	strcat(input, rfc7515_payload_b64);
	CHECK_OK(at_jws_sign_input(&sig, &siglen, key, input, strlen(input)));
	expected = unb64(a2_sig, &explen);
	CHECK(expected != NULL);
	CHECK_INT(siglen, ==, 256);
	CHECK_INT(explen, ==, 256);
	CHECK(sig != NULL && expected != NULL && siglen == explen && memcmp(sig, expected, explen) == 0);
	free(expected);
	free(sig);
	free(input);
	at_jws_key_free(key);
}

static void test_hs256_rfc7515_a1(void)
{
	static const char k[] =
		"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
	static const char hdr[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9";
	static const char expected_b64[] = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
	unsigned char mac[AT_HS256_LEN];
	size_t keylen = 0;
	unsigned char *key = unb64(k, &keylen);
	char input[512];
	char *got = NULL;

	REQUIRE(key != NULL);
	snprintf(input, sizeof(input), "%s.%s", hdr, rfc7515_payload_b64);
	CHECK_OK(at_jws_hs256(mac, key, keylen, input, strlen(input)));
	CHECK_OK(at_b64url_encode(&got, mac, sizeof(mac)));
	CHECK_STR(got, expected_b64);
	free(got);
	/* An empty key authenticates nothing and is refused. */
	CHECK_INT(at_jws_hs256(mac, key, 0, input, strlen(input)), ==, AT_E_INVAL);
	free(key);
}

static void ecdsa_case(enum at_key_type type, const char *alg, const char *md, size_t want_len)
{
	struct at_jws_key *key = NULL;
	cJSON *jwk = NULL;
	EVP_PKEY *pub = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	static const char input[] = "eyJhbGciOiJFUzI1NiJ9.eyJoZWxsbyI6IndvcmxkIn0";

	REQUIRE(at_jws_key_generate(&key, type) == 0);
	CHECK_STR(at_jws_key_alg(key), alg);
	REQUIRE(at_jws_key_jwk(&jwk, key) == 0);
	pub = ec_from_jwk(jwk);
	CHECK(pub != NULL);
	/* Many signatures, so that an R or S with leading zero bytes (about 1 in 128) exercises the padding. */
	for (int i = 0; i < 64 && pub != NULL; i++) {
		CHECK_OK(at_jws_sign_input(&sig, &siglen, key, input, strlen(input)));
		CHECK_INT(siglen, ==, want_len);
		CHECK(sig != NULL && ecdsa_raw_verify(pub, md, sig, siglen, input));
		if (i == 0 && sig != NULL) {
			sig[3] ^= 1; /* a tampered signature must not verify */
			CHECK(!ecdsa_raw_verify(pub, md, sig, siglen, input));
		}
		free(sig);
		sig = NULL;
	}
	EVP_PKEY_free(pub);
	cJSON_Delete(jwk);
	at_jws_key_free(key);
}

static void test_es256_sign_verify(void)
{
	ecdsa_case(AT_KEY_P256, "ES256", "SHA256", 64);
}

static void test_es384_sign_verify(void)
{
	ecdsa_case(AT_KEY_P384, "ES384", "SHA384", 96);
}

static void test_thumbprint_rfc7638(void)
{
	EVP_PKEY *pub = rsa_from_jwk(rfc7638_n, "AQAB", NULL, NULL, NULL, NULL, NULL, NULL);
	char tp[AT_JWK_THUMBPRINT_LEN + 1];
	cJSON *jwk = NULL;
	char *text = NULL;

	REQUIRE(pub != NULL);
	CHECK_OK(at_jwk_thumbprint(tp, pub));
	CHECK_STR(tp, rfc7638_thumb);
	/* The canonical form of RFC 7638 section 3.1, member for member. */
	CHECK_OK(at_jwk_from_pkey(&jwk, pub));
	text = jwk ? cJSON_PrintUnformatted(jwk) : NULL;
	CHECK(text != NULL && strncmp(text, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7ago", 36) == 0);
	cJSON_free(text);
	cJSON_Delete(jwk);
	EVP_PKEY_free(pub);
}

static void test_jwk_ec_members(void)
{
	static const struct {
		enum at_key_type type;
		const char *crv;
		size_t coord_b64; /* 32 bytes -> 43 chars, 48 -> 64 */
	} cases[] = { { AT_KEY_P256, "P-256", 43 }, { AT_KEY_P384, "P-384", 64 } };

	for (size_t i = 0; i < 2; i++) {
		struct at_jws_key *key = NULL;
		cJSON *jwk = NULL;
		char *text = NULL;
		char prefix[64];

		REQUIRE(at_jws_key_generate(&key, cases[i].type) == 0);
		REQUIRE(at_jws_key_jwk(&jwk, key) == 0);
		text = cJSON_PrintUnformatted(jwk);
		snprintf(prefix, sizeof(prefix), "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"", cases[i].crv);
		CHECK(text != NULL && strncmp(text, prefix, strlen(prefix)) == 0);
		CHECK_INT(cJSON_GetArraySize(jwk), ==, 4);
		CHECK_INT(strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "x"))), ==,
			  cases[i].coord_b64);
		CHECK_INT(strlen(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jwk, "y"))), ==,
			  cases[i].coord_b64);
		CHECK_INT(strlen(at_jws_key_thumbprint(key)), ==, AT_JWK_THUMBPRINT_LEN);
		cJSON_free(text);
		cJSON_Delete(jwk);
		at_jws_key_free(key);
	}
}

static void test_key_pem_roundtrip(void)
{
	struct at_jws_key *a = NULL, *b = NULL;
	char *pem = NULL;
	size_t len = 0;

	REQUIRE(at_jws_key_generate(&a, AT_KEY_P256) == 0);
	CHECK_OK(at_jws_key_to_pem(&pem, &len, a));
	REQUIRE(pem != NULL);
	CHECK(strstr(pem, "-----BEGIN PRIVATE KEY-----") == pem);
	CHECK_OK(at_jws_key_from_pem(&b, pem, len));
	REQUIRE(b != NULL);
	CHECK_STR(at_jws_key_thumbprint(a), at_jws_key_thumbprint(b));
	at_secret_free(pem, len);
	at_jws_key_free(a);
	at_jws_key_free(b);
	CHECK_INT(at_jws_key_from_pem(&b, "garbage", 7), ==, AT_E_PARSE);
}

/* Checks one at_jws_sign output; with_kid tells which of kid / jwk must be there. */
static void check_signed(struct at_jws_key *key, const char *text, const char *kid, const char *payload)
{
	cJSON *jws = cJSON_Parse(text);
	cJSON *prot = NULL;
	const char *p_b64, *pl_b64, *s_b64;
	char *prot_text = NULL, *pl = NULL;
	cJSON *jwk = NULL;
	EVP_PKEY *pub = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	char *input = NULL;

	REQUIRE(jws != NULL);
	CHECK_INT(cJSON_GetArraySize(jws), ==, 3);
	p_b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jws, "protected"));
	pl_b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jws, "payload"));
	s_b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(jws, "signature"));
	CHECK(p_b64 != NULL && pl_b64 != NULL && s_b64 != NULL);
	if (p_b64 == NULL || pl_b64 == NULL || s_b64 == NULL)
		goto out;
	prot_text = unb64_text(p_b64);
	prot = prot_text ? cJSON_Parse(prot_text) : NULL;
	REQUIRE(prot != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "alg")), "ES256");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "nonce")), "nonce-1");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "url")), "https://ca.example/acct/1");
	CHECK_INT(cJSON_GetArraySize(prot), ==, 4);
	if (kid != NULL) {
		CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "kid")), kid);
		CHECK(!cJSON_HasObjectItem(prot, "jwk"));
		REQUIRE(at_jws_key_jwk(&jwk, key) == 0);
	} else {
		CHECK(!cJSON_HasObjectItem(prot, "kid"));
		jwk = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(prot, "jwk"), 1);
		REQUIRE(jwk != NULL);
	}
	if (payload == NULL) {
		CHECK_STR(pl_b64, ""); /* POST-as-GET, RFC 8555 section 6.3 */
	} else {
		pl = unb64_text(pl_b64);
		CHECK_STR(pl, payload);
	}
	/* The signature covers exactly "protected.payload" and verifies with the (header's) JWK. */
	pub = ec_from_jwk(jwk);
	REQUIRE(pub != NULL);
	input = malloc(strlen(p_b64) + strlen(pl_b64) + 2);
	REQUIRE(input != NULL);
	sprintf(input, "%s.%s", p_b64, pl_b64);
	sig = unb64(s_b64, &siglen);
	CHECK_INT(siglen, ==, 64);
	CHECK(sig != NULL && ecdsa_raw_verify(pub, "SHA256", sig, siglen, input));
out:
	free(sig);
	free(input);
	EVP_PKEY_free(pub);
	cJSON_Delete(jwk);
	free(pl);
	cJSON_Delete(prot);
	free(prot_text);
	cJSON_Delete(jws);
}

static void test_jws_sign_kid_and_jwk(void)
{
	struct at_jws_key *key = NULL;
	char *out = NULL;
	static const char url[] = "https://ca.example/acct/1";
	static const char kid[] = "https://ca.example/acct/1";

	REQUIRE(at_jws_key_generate(&key, AT_KEY_P256) == 0);
	CHECK_OK(at_jws_sign(&out, key, url, "nonce-1", kid, "{\"contact\":[]}"));
	if (out != NULL)
		check_signed(key, out, kid, "{\"contact\":[]}");
	free(out);
	out = NULL;
	CHECK_OK(at_jws_sign(&out, key, url, "nonce-1", NULL, "{\"termsOfServiceAgreed\":true}"));
	if (out != NULL)
		check_signed(key, out, NULL, "{\"termsOfServiceAgreed\":true}");
	free(out);
	out = NULL;
	CHECK_OK(at_jws_sign(&out, key, url, "nonce-1", kid, NULL));
	if (out != NULL)
		check_signed(key, out, kid, NULL);
	free(out);
	out = NULL;
	CHECK_INT(at_jws_sign(&out, key, NULL, "nonce-1", kid, NULL), ==, AT_E_INVAL);
	CHECK_INT(at_jws_sign(&out, key, url, NULL, kid, NULL), ==, AT_E_INVAL);
	CHECK(out == NULL);
	at_jws_key_free(key);
}

static void test_eab(void)
{
	/* A 32-byte HMAC key as a CA would hand it out, base64url. */
	static const char hkey_b64[] = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
	static const char url[] = "https://ca.example/acme/new-account";
	struct at_jws_key *key = NULL;
	cJSON *eab = NULL, *prot = NULL, *jwk = NULL;
	char *prot_text = NULL, *pl_text = NULL, *jwk_text = NULL, *input = NULL, *mac_b64 = NULL;
	unsigned char *hkey = NULL;
	size_t hkeylen = 0;
	unsigned char mac[AT_HS256_LEN];
	const char *p_b64, *pl_b64, *s_b64;

	REQUIRE(at_jws_key_generate(&key, AT_KEY_P256) == 0);
	CHECK_OK(at_jws_eab(&eab, "kid-1", hkey_b64, key, url));
	REQUIRE(eab != NULL);
	p_b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(eab, "protected"));
	pl_b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(eab, "payload"));
	s_b64 = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(eab, "signature"));
	REQUIRE(p_b64 != NULL && pl_b64 != NULL && s_b64 != NULL);
	CHECK_INT(cJSON_GetArraySize(eab), ==, 3);

	prot_text = unb64_text(p_b64);
	prot = prot_text ? cJSON_Parse(prot_text) : NULL;
	CHECK(prot != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "alg")), "HS256");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "kid")), "kid-1");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(prot, "url")), url);
	CHECK_INT(cJSON_GetArraySize(prot), ==, 3); /* RFC 8555 section 7.3.4: no nonce */

	/* The payload is the account key's JWK. */
	pl_text = unb64_text(pl_b64);
	CHECK_OK(at_jws_key_jwk(&jwk, key));
	jwk_text = jwk ? cJSON_PrintUnformatted(jwk) : NULL;
	CHECK_STR(pl_text, jwk_text);

	/* The MAC, recomputed over "protected.payload" with the decoded key. */
	hkey = unb64(hkey_b64, &hkeylen);
	REQUIRE(hkey != NULL);
	input = malloc(strlen(p_b64) + strlen(pl_b64) + 2);
	REQUIRE(input != NULL);
	sprintf(input, "%s.%s", p_b64, pl_b64);
	CHECK_OK(at_jws_hs256(mac, hkey, hkeylen, input, strlen(input)));
	CHECK_OK(at_b64url_encode(&mac_b64, mac, sizeof(mac)));
	CHECK_STR(s_b64, mac_b64);

	cJSON *bad = NULL;
	CHECK_INT(at_jws_eab(&bad, "kid-1", "not*base64", key, url), ==, AT_E_PARSE);
	CHECK_INT(at_jws_eab(&bad, "kid-1", "", key, url), ==, AT_E_PARSE);
	CHECK(bad == NULL);

	free(mac_b64);
	free(input);
	free(hkey);
	cJSON_free(jwk_text);
	cJSON_Delete(jwk);
	free(pl_text);
	cJSON_Delete(prot);
	free(prot_text);
	cJSON_Delete(eab);
	at_jws_key_free(key);
}

static void test_key_authorization(void)
{
	struct at_jws_key *key = NULL;
	char *ka = NULL;
	char want[128];

	REQUIRE(at_jws_key_generate(&key, AT_KEY_P256) == 0);
	CHECK_OK(at_key_authorization(&ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", key));
	snprintf(want, sizeof(want), "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.%s", at_jws_key_thumbprint(key));
	CHECK_STR(ka, want);
	free(ka);
	ka = NULL;
	/* Tokens outside the base64url alphabet (RFC 8555 section 8.1) are refused. */
	CHECK_INT(at_key_authorization(&ka, "../../etc/passwd", key), ==, AT_E_INVAL);
	CHECK_INT(at_key_authorization(&ka, "", key), ==, AT_E_INVAL);
	CHECK(ka == NULL);
	at_jws_key_free(key);
}

int main(void)
{
	RUN(test_rs256_rfc7515_a2);
	RUN(test_hs256_rfc7515_a1);
	RUN(test_es256_sign_verify);
	RUN(test_es384_sign_verify);
	RUN(test_thumbprint_rfc7638);
	RUN(test_jwk_ec_members);
	RUN(test_key_pem_roundtrip);
	RUN(test_jws_sign_kid_and_jwk);
	RUN(test_eab);
	RUN(test_key_authorization);
	return TEST_EXIT();
}
