/* HMAC-SHA256 through the OpenSSL 3 EVP_MAC one-shot (HMAC_CTX is deprecated). */
#include "acme/jws_hmac.h"
#include "util/err.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <string.h>

int at_jws_hs256(unsigned char mac[AT_HS256_LEN], const unsigned char *key, size_t keylen, const void *input,
		 size_t n)
{
	unsigned char tmp[EVP_MAX_MD_SIZE];
	size_t len = 0;

	/* An empty HMAC key would "work" and authenticate nothing; a CA never issues one. */
	if (key == NULL || keylen == 0 || (input == NULL && n > 0))
		return AT_E_INVAL;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, input, n, tmp, sizeof(tmp), &len) == NULL ||
	    len != AT_HS256_LEN) {
		ERR_clear_error();
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return AT_E_CRYPTO;
	}
	memcpy(mac, tmp, AT_HS256_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}
