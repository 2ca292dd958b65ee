/*
 * libFuzzer: identifier normalisation (store/name.h), the gate between a name from outside (configuration, SNI,
 * a CA's answer) and a folder in the store. The output must be safe as a path component and a fixed point.
 */
#include "store/name.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Holds for a normalised name and for its store component alike. */
static void check_safe(const char *s)
{
	size_t n = strnlen(s, AT_NAME_MAX + 1);
	FUZZ_CHECK(n >= 1 && n <= AT_NAME_MAX); /* NUL-terminated within the buffer, not empty */
	FUZZ_CHECK(strchr(s, '/') == NULL && strchr(s, '\\') == NULL);
	FUZZ_CHECK(strstr(s, "..") == NULL);
	FUZZ_CHECK(strcmp(s, ".") != 0);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		FUZZ_CHECK(c > 0x20 && c < 0x7f);
		FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[AT_NAME_MAX + 1], again[AT_NAME_MAX + 1], comp[AT_NAME_MAX + 1];

	if (at_name_normalize(out, (const char *)data, size) != 0)
		return 0;
	check_safe(out);
	/* idempotent: a normalised name normalises to itself */
	FUZZ_CHECK(at_name_normalize(again, out, strlen(out)) == 0);
	FUZZ_CHECK(strcmp(again, out) == 0);
	FUZZ_CHECK(at_name_to_component(comp, out) == 0);
	check_safe(comp);
	FUZZ_CHECK(strlen(comp) == strlen(out));
	FUZZ_CHECK(strchr(comp, '*') == NULL && strchr(comp, ':') == NULL);
	for (const char *c = comp; *c; c++)
		FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' ||
			   *c == '_');
	return 0;
}
