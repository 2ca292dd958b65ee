/*
 * The account key and JSON Web Signatures (RFC 7515 in the flattened JSON form, RFC 8555 section 6.2).
 *
 * The account key lives only inside this module: it signs, gives its JWK and thumbprint (RFC 7638), and is
 * serialised only to be stored (at_jws_key_to_pem). ES256 for P-256 keys (the default), ES384 for P-384, RS256
 * for RSA. ECDSA signatures are the raw R||S form JWS requires, not DER.
 */
#ifndef AUTOTLS_ACME_JWS_H
#define AUTOTLS_ACME_JWS_H

#include "util/err.h"
#include "util/keys.h"

#include <cjson/cJSON.h>
#include <stddef.h>

struct at_jws_key;

/* A new account key of the given type (p256, p384 or an RSA size). Caller frees with at_jws_key_free. */
int at_jws_key_generate(struct at_jws_key **out, enum at_key_type type) AT_MUST_CHECK;

/* Loads a key from PEM. Returns 0, AT_E_PARSE, AT_E_UNSUPPORTED. */
int at_jws_key_from_pem(struct at_jws_key **out, const char *pem, size_t len) AT_MUST_CHECK;

/* PEM for the store (free with at_secret_free). */
int at_jws_key_to_pem(char **out, size_t *len, const struct at_jws_key *key) AT_MUST_CHECK;

void at_jws_key_free(struct at_jws_key *key);

/* "ES256", "ES384" or "RS256". Borrowed, static. */
const char *at_jws_key_alg(const struct at_jws_key *key);

/* The public JWK with only the required members (RFC 7638 section 3.2). *out is new; cJSON_Delete it. */
int at_jws_key_jwk(cJSON **out, const struct at_jws_key *key) AT_MUST_CHECK;

/* The RFC 7638 thumbprint, base64url of SHA-256 of the canonical JWK. Borrowed: valid while key lives. */
const char *at_jws_key_thumbprint(const struct at_jws_key *key);

/*
 * Signs input (the JWS signing input "protected.payload") with the key's algorithm. *sig (caller frees) is raw:
 * R||S for ECDSA, the PKCS#1 v1.5 block for RSA.
 */
int at_jws_sign_input(unsigned char **sig, size_t *siglen, const struct at_jws_key *key, const char *input,
		      size_t n) AT_MUST_CHECK;

/*
 * A flattened JWS for an ACME POST (RFC 8555 section 6.2): protected header {alg, nonce, url, and kid, or jwk
 * when kid is NULL}; payload is the JSON text, or NULL for POST-as-GET (an empty payload, section 6.3).
 * *out is a new NUL-terminated JSON string; caller frees.
 */
int at_jws_sign(char **out, const struct at_jws_key *key, const char *url, const char *nonce, const char *kid,
		const char *payload) AT_MUST_CHECK;

/*
 * The externalAccountBinding member (RFC 8555 section 7.3.4): a JWS with alg HS256, kid = eab_kid, url =
 * new_account_url, payload = the account key's JWK, signed with the base64url-decoded eab_hmac_key.
 * Returns AT_E_PARSE when the HMAC key is not base64url.
 */
int at_jws_eab(cJSON **out, const char *eab_kid, const char *eab_hmac_key_b64url, const struct at_jws_key *key,
	       const char *new_account_url) AT_MUST_CHECK;

/* keyAuthorization = token || '.' || thumbprint (RFC 8555 section 8.1). *out is new; caller frees. */
int at_key_authorization(char **out, const char *token, const struct at_jws_key *key) AT_MUST_CHECK;

#endif
