/*
 * libFuzzer: the ClientHello extension parsers of the preload (shim/preload/clienthello.c), fed the raw
 * extension bytes a client controls: server_name (RFC 6066 section 3) and ALPN (RFC 7301 section 3.1).
 */
#include "shim/preload/clienthello.h"
#include "tests/fuzz/fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reading one byte past the extension is an ASan report */
	unsigned char *ext = malloc(size ? size : 1);
	char out[CH_SNI_MAX + 1 + 16];

	if (ext == NULL)
		return 0;
	memcpy(ext, data, size);
	memset(out, 'Z', sizeof out);
	int rc = ch_parse_sni(ext, size, out);
	FUZZ_CHECK(rc == 0 || rc == AT_E_NOTFOUND || rc == AT_E_PARSE);
	if (rc == 0) {
		size_t n = strnlen(out, CH_SNI_MAX + 1);
		FUZZ_CHECK(n >= 1 && n <= CH_SNI_MAX);
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)out[i];
			FUZZ_CHECK(c >= 0x20 && c != 0x7f);
			FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
		}
	}
	/* nothing written past the buffer the prototype names */
	for (size_t i = CH_SNI_MAX + 1; i < sizeof out; i++)
		FUZZ_CHECK(out[i] == 'Z');
	if (ch_alpn_only_acme(ext, size)) {
		/* exactly one protocol, "acme-tls/1": list length 11, protocol length 10 */
		FUZZ_CHECK(size == 13 && memcmp(ext, "\x00\x0b\x0a" "acme-tls/1", 13) == 0);
	}
	free(ext);
	return 0;
}
