/*
 * libFuzzer: the HTTP-01 responder's request parser (challenge/http01_request.h), which reads what anyone who
 * reaches the responder's port sends. The input is what the responder read (at most AT_HTTP01_REQ_MAX bytes),
 * in a buffer of exactly that size so an overread shows. The end of the head is found as the responder finds
 * it, and the parser is given the head (or, when there is none yet, the whole buffer) with redirect off and on.
 * Properties: only the documented codes; *out untouched on an error; a token only for a GET of the challenge
 * path, inside the input and base64url; a redirect only when asked, to https:// with nothing but visible ASCII
 * (no header injection) and a host of letters, digits, dots and hyphens; redirect on refuses everything
 * redirect off refuses and answers the challenge path the same.
 */
#include "challenge/http01_request.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct at_http01_request off, on; /* 8.7 KiB each: not on the stack */

static void check_one(const struct at_http01_request *r, int rc, int redirect, const char *head, size_t len)
{
	size_t plen = strlen(AT_HTTP01_PREFIX);

	FUZZ_CHECK(rc == 0 || rc == AT_E_PARSE);
	if (rc != 0) {
		FUZZ_CHECK(r->answer == 0 && r->token == NULL); /* as it was before the call */
		return;
	}
	FUZZ_CHECK(r->answer == AT_HTTP01_KEYAUTH || r->answer == AT_HTTP01_NOT_FOUND ||
		   r->answer == AT_HTTP01_REDIRECT);
	if (r->answer == AT_HTTP01_KEYAUTH) {
		FUZZ_CHECK(len >= 4 && memcmp(head, "GET ", 4) == 0);
		FUZZ_CHECK(r->token >= head + 4 + plen && r->token + r->token_len <= head + len);
		FUZZ_CHECK(memcmp(r->token - plen, AT_HTTP01_PREFIX, plen) == 0);
		FUZZ_CHECK(at_http01_token_ok(r->token, r->token_len));
	} else {
		FUZZ_CHECK(r->token == NULL && r->token_len == 0);
	}
	if (r->answer == AT_HTTP01_REDIRECT) {
		size_t n = strnlen(r->location, sizeof(r->location));
		FUZZ_CHECK(redirect);
		FUZZ_CHECK(n < sizeof(r->location) && strncmp(r->location, "https://", 8) == 0);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)r->location[i] > 0x20 && (unsigned char)r->location[i] < 0x7f);
		const char *path = strchr(r->location + 8, '/');
		FUZZ_CHECK(path != NULL && path > r->location + 8);
		for (const char *h = r->location + 8; h < path; h++)
			FUZZ_CHECK((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') ||
				   *h == '.' || *h == '-');
	} else {
		FUZZ_CHECK(r->location[0] == '\0');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = size > AT_HTTP01_REQ_MAX ? AT_HTTP01_REQ_MAX : size;
	char *buf = malloc(len ? len : 1);
	size_t head_len = 0;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, len);
	int rc = at_http01_request_end(buf, len, &head_len);
	FUZZ_CHECK(rc == 0 || rc == AT_E_NOTFOUND);
	if (rc == 0)
		FUZZ_CHECK(head_len >= 2 && head_len <= len && buf[head_len - 1] == '\n');
	size_t n = rc == 0 ? head_len : len;

	memset(&off, 0, sizeof(off));
	memset(&on, 0, sizeof(on));
	int rc_off = at_http01_request_parse(&off, buf, n, 0);
	int rc_on = at_http01_request_parse(&on, buf, n, 1);
	check_one(&off, rc_off, 0, buf, n);
	check_one(&on, rc_on, 1, buf, n);
	if (rc_off != 0)
		FUZZ_CHECK(rc_on != 0); /* redirecting only adds reasons to refuse */
	if (rc_off == 0 && off.answer == AT_HTTP01_KEYAUTH) /* the challenge path is answered the same either way */
		FUZZ_CHECK(rc_on == 0 && on.answer == AT_HTTP01_KEYAUTH && on.token == off.token &&
			   on.token_len == off.token_len);
	free(buf);
	return 0;
}
