/*
 * libFuzzer: the two response headers the ACME client reads itself, Retry-After (at_http_retry_after) and Link
 * (at_http_link). The input is split at '\n' into up to AT_HTTP_MAX_LINKS Link values (a value may hold several
 * links, comma-separated); each value and the first line are also tried as a Retry-After.
 */
#include "acme/http.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000L

static void check_retry_after(const char *v)
{
	long s = -7;
	int rc = at_http_retry_after(&s, v, NOW);
	if (rc == 0)
		FUZZ_CHECK(s >= 0 && s <= 86400);
	else
		FUZZ_CHECK(rc == AT_E_PARSE && s == -7);
}

static void check_link(const struct at_http_response *resp, const char *rel, size_t idx)
{
	char *u = NULL;
	int rc = at_http_link(&u, resp, rel, idx);
	if (rc == 0) {
		FUZZ_CHECK(u != NULL);
		FUZZ_CHECK(strchr(u, '>') == NULL); /* the URL ends at the first '>' */
		free(u);
	} else {
		FUZZ_CHECK(rc == AT_E_NOTFOUND && u == NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct at_http_response resp;
	char *copy = malloc(size + 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	memset(&resp, 0, sizeof resp);
	/* each value is its own allocation, as http_curl.c makes them, so an overread shows */
	char *p = copy, *end = copy + size;
	while (p <= end && resp.nlinks < AT_HTTP_MAX_LINKS) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char *v = malloc(len + 1);
		if (v == NULL)
			break;
		memcpy(v, p, len);
		v[len] = '\0';
		resp.links[resp.nlinks++] = v;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	check_retry_after(copy);
	for (size_t i = 0; i < resp.nlinks; i++)
		check_retry_after(resp.links[i]);
	for (size_t idx = 0; idx < 4; idx++)
		check_link(&resp, "alternate", idx);
	check_link(&resp, "index", 0);
	check_link(&resp, "up", 0);
	for (size_t i = 0; i < resp.nlinks; i++)
		free(resp.links[i]);
	free(copy);
	return 0;
}
