/*
 * libFuzzer: PEM from outside, a CA's certificate download (at_chain_parse, then at_cert_info_get on every
 * certificate, as the store and the log lines use them) and a private key file (at_key_from_pem).
 */
#include "tests/fuzz/fuzz_check.h"
#include "util/keys.h"
#include "util/x509.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;

	if (at_chain_parse(&chain, (const char *)data, size) == 0) {
		int n = sk_X509_num(chain);
		FUZZ_CHECK(n >= 1 && n <= AT_CHAIN_MAX_CERTS);
		for (int i = 0; i < n; i++) {
			struct at_cert_info info;
			memset(&info, 0, sizeof info);
			if (at_cert_info_get(&info, sk_X509_value(chain, i)) == 0) {
				FUZZ_CHECK(memchr(info.subject, '\0', sizeof info.subject) != NULL);
				FUZZ_CHECK(memchr(info.issuer, '\0', sizeof info.issuer) != NULL);
				FUZZ_CHECK(memchr(info.serial, '\0', sizeof info.serial) != NULL);
				for (size_t k = 0; k < info.nnames; k++)
					FUZZ_CHECK(info.names[k] != NULL);
			}
			at_cert_info_clear(&info);
		}
		sk_X509_pop_free(chain, X509_free);
	}
	if (at_key_from_pem(&key, (const char *)data, size) == 0)
		FUZZ_CHECK(key != NULL);
	EVP_PKEY_free(key);
	return 0;
}
