/* libFuzzer: RFC 9773 renewalInfo bodies (at_ari_parse) and the time picked in the window (at_ari_pick). */
#include "acme/acme.h"
#include "tests/fuzz/fuzz_check.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct at_ari_window w;
	static const unsigned rnds[] = { 0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 12345u };

	memset(&w, 0, sizeof w);
	w.retry_after = -1;
	if (at_ari_parse(&w, (const char *)data, size) == 0) {
		FUZZ_CHECK(w.start < w.end);
		for (size_t i = 0; i < sizeof rnds / sizeof rnds[0]; i++) {
			time_t t = at_ari_pick(&w, rnds[i]);
			FUZZ_CHECK(t >= w.start && t <= w.end);
		}
		if (w.explanation_url)
			FUZZ_CHECK(strlen(w.explanation_url) < 2048);
	}
	at_ari_window_clear(&w);
	return 0;
}
