/* libFuzzer: DNS answers to a TXT query (dns/query.h), as any server on the path could send them. The id and the
 * question are taken from the answer's own header when it has one, so inputs get past the id check. */
#include "tests/fuzz/fuzz_check.h"
#include "dns/query.h"
#include "util/err.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	int found = -1;
	int rc = at_dns_parse_txt(data, size, id, "a.test", "abc", &found);
	FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE || rc == AT_E_NET || rc == AT_E_TOOBIG);
	FUZZ_CHECK(rc == 0 ? (found == 0 || found == 1) : found == -1);
	return 0;
}
