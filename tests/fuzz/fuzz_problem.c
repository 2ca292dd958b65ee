/* libFuzzer: ACME problem documents (acme/problem.h), as any CA error response body would reach them. */
#include "acme/problem.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct at_problem p;

	memset(&p, 0, sizeof p);
	if (at_problem_parse(&p, (const char *)data, size) == 0) {
		int code = at_problem_code(&p);
		const char *t = at_problem_short_type(&p);
		FUZZ_CHECK(code < 0);
		FUZZ_CHECK(t != NULL);
		FUZZ_CHECK(strlen(t) < 1024 * 1024);
		FUZZ_CHECK(p.nsub <= AT_PROBLEM_MAX_SUB);
		for (size_t i = 0; i < p.nsub; i++)
			(void)strlen(p.sub[i].type ? p.sub[i].type : "");
		/* moving must leave the source empty and the destination whole */
		struct at_problem q;
		memset(&q, 0, sizeof q);
		at_problem_move(&q, &p);
		FUZZ_CHECK(p.type == NULL && p.nsub == 0);
		FUZZ_CHECK(at_problem_code(&q) == code);
		at_problem_clear(&q);
	}
	at_problem_clear(&p);
	return 0;
}
