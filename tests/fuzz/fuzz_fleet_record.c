/*
 * libFuzzer: the checks of a distributed challenge record another host wrote into the shared store
 * (challenge/fleet_record.h). The input, in a buffer of exactly its size so an overread shows, is checked as an
 * HTTP-01 record under the key of its own token part (the bytes before the first '.') and as a DNS-01 record
 * under the key of the whole input, so that the content alone decides. Properties: only 0 or AT_E_PARSE; an
 * HTTP-01 record accepted is "<token>.<thumbprint>", both base64url, within the cap; a DNS-01 record accepted is
 * "_acme-challenge.<name>\n<value>" within the caps, the name of letters, digits, '-', '_', '.', the value
 * base64url (nothing a hook's argument could be surprised by); under another record's key neither is accepted.
 */
#include "challenge/fleet_record.h"
#include "challenge/http01_request.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char key[AT_FLEET_KEY_MAX], other[AT_FLEET_KEY_MAX];
	char *v = malloc(size ? size : 1);
	size_t n = 0;
	if (v == NULL)
		return 0;
	memcpy(v, data, size);
	const char *dot = memchr(v, '.', size);
	size_t tl = dot ? (size_t)(dot - v) : size;
	/* A token no accepted record can have (not base64url), so its key is never the input's own. */
	FUZZ_CHECK(at_fleet_record_key(other, sizeof other, "http-01", "!", 1) == 0);

	FUZZ_CHECK(at_fleet_record_key(key, sizeof key, "http-01", v, tl) == 0);
	int rc = at_fleet_http01_check(key, v, size, &n);
	FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE);
	if (rc == 0) {
		FUZZ_CHECK(size <= AT_FLEET_HTTP01_VALUE_MAX && n == tl && n < size && v[n] == '.');
		FUZZ_CHECK(at_http01_token_ok(v, n) && at_http01_token_ok(v + n + 1, size - n - 1));
		FUZZ_CHECK(at_fleet_http01_check(other, v, size, &n) == AT_E_PARSE);
	}

	FUZZ_CHECK(at_fleet_record_key(key, sizeof key, "dns-01", v, size) == 0);
	rc = at_fleet_dns01_check(key, v, size, &n);
	FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE);
	if (rc == 0) {
		FUZZ_CHECK(size <= AT_FLEET_DNS01_RECORD_MAX && n <= AT_FLEET_DNS01_NAME_MAX && n < size && v[n] == '\n');
		FUZZ_CHECK(n > 16 && memcmp(v, "_acme-challenge.", 16) == 0);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(name_char(v[i]));
		FUZZ_CHECK(size - n - 1 <= AT_FLEET_DNS01_VALUE_MAX && at_http01_token_ok(v + n + 1, size - n - 1));
		FUZZ_CHECK(at_fleet_dns01_check(other, v, size, &n) == AT_E_PARSE);
	}
	free(v);
	return 0;
}
