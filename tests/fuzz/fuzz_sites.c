/*
 * libFuzzer: the sites file's reader (shim/sites.c, AUTOTLS_SITES) on any bytes. Properties: 0 or AT_E_NOMEM;
 * every certificate taken has 1..100 normalised names (at most 25 under tlsserver, which the first input byte
 * selects), no name twice in the whole file, none of the names already taken, line numbers rising. Error lines
 * go to stderr, which fuzz_sites.options closes for the run.
 */
#include "shim/sites.h"
#include "store/name.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"
#include "util/log.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const taken[] = { "managed.example.test" };
	if (size == 0)
		return 0;
	const char *profile = (data[0] & 1) ? "tlsserver" : NULL;
	struct sites s;
	int rc = sites_parse(&s, (const char *)data + 1, size - 1, "fuzz", profile, taken, 1);
	FUZZ_CHECK(rc == 0 || rc == AT_E_NOMEM);
	if (rc != 0)
		return 0;
	size_t limit = sites_name_limit(profile);
	unsigned last = 0;
	for (size_t i = 0; i < s.n; i++) {
		const struct site_line *l = &s.v[i];
		FUZZ_CHECK(l->nnames >= 1 && l->nnames <= limit);
		FUZZ_CHECK(l->line > last);
		last = l->line;
		for (size_t k = 0; k < l->nnames; k++) {
			char norm[AT_NAME_MAX + 1];
			FUZZ_CHECK(at_name_normalize(norm, l->names[k], strlen(l->names[k])) == 0);
			FUZZ_CHECK(strcmp(norm, l->names[k]) == 0);
			FUZZ_CHECK(strcmp(l->names[k], taken[0]) != 0);
			/* no name twice: small inputs only (quadratic) */
			for (size_t j = i; j < s.n && s.n < 64; j++)
				for (size_t m = j == i ? k + 1 : 0; m < s.v[j].nnames; m++)
					FUZZ_CHECK(strcmp(l->names[k], s.v[j].names[m]) != 0);
		}
	}
	sites_clear(&s);
	return 0;
}
