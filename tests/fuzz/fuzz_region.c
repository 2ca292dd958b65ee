/*
 * libFuzzer: the shared region's record parser (shim/shm.c shm_next_record, shm_record_name), which every
 * process of a server runs over whatever a slot of the region holds. Arbitrary bytes: each record it returns
 * lies inside the payload, its name and each of the names beside it is NUL-terminated and not empty, the
 * offset only moves forward, and the walk ends (AT_E_NOTFOUND) exactly at the end or is refused (AT_E_PARSE),
 * never read past it; an OCSP staple lies inside it too. (The directory's walk, shm_read_changes, checks each slot against the heap: test_shm.)
 */
#include "shim/shm.h"
#include "tests/fuzz/fuzz_check.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shm_record rec;
	size_t off = 0;
	int more;
	while ((more = shm_next_record(data, size, &off, &rec)) == 0) {
		FUZZ_CHECK(off <= size);
		size_t nl = strnlen(rec.name, sizeof(rec.name));
		FUZZ_CHECK(nl >= 1 && nl < sizeof(rec.name));
		FUZZ_CHECK(rec.kind == SHM_CERT || rec.kind == SHM_CHALLENGE || rec.kind == SHM_BLOB);
		FUZZ_CHECK(strnlen(rec.blob, sizeof(rec.blob)) < sizeof(rec.blob));
		FUZZ_CHECK((const uint8_t *)rec.chain >= data && (const uint8_t *)rec.chain + rec.chain_len <= data + size);
		FUZZ_CHECK((const uint8_t *)rec.key >= data && (const uint8_t *)rec.key + rec.key_len <= data + size);
		FUZZ_CHECK(rec.names >= data && rec.names + rec.names_len <= data + size);
		FUZZ_CHECK(rec.ocsp_len <= SHM_OCSP_MAX);
		FUZZ_CHECK(rec.ocsp_len == 0 ? rec.ocsp == NULL
					     : rec.ocsp >= data && rec.ocsp + rec.ocsp_len <= data + size);
		char nm[256];
		size_t noff = 0;
		unsigned count = 0;
		while (shm_record_name(&rec, &noff, nm) == 0) {
			size_t l = strnlen(nm, sizeof(nm));
			FUZZ_CHECK(l >= 1 && l < sizeof(nm));
			count++;
		}
		FUZZ_CHECK(count == rec.nnames && noff == rec.names_len);
	}
	FUZZ_CHECK(more == AT_E_PARSE || (more == AT_E_NOTFOUND && off == size));
	return 0;
}
