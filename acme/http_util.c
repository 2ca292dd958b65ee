/* Response helpers shared by every HTTP implementation: clearing, Retry-After and Link header parsing. */
#include "acme/http.h"
#include "util/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void at_http_response_clear(struct at_http_response *resp)
{
	free(resp->body);
	free(resp->content_type);
	free(resp->location);
	free(resp->replay_nonce);
	free(resp->retry_after);
	free(resp->date);
	for (size_t i = 0; i < resp->nlinks; i++)
		free(resp->links[i]);
	memset(resp, 0, sizeof(*resp));
}

int at_http_date(long long *out, const char *value)
{
	/* RFC 9110 section 5.6.7: IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT". */
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (value == NULL)
		return AT_E_PARSE;
	while (*value == ' ' || *value == '\t')
		value++;
	const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return AT_E_PARSE;
	*out = (long long)timegm(&tm);
	return 0;
}

int at_http_retry_after(long *seconds, const char *value, long now)
{
	if (value == NULL)
		return AT_E_PARSE;
	while (*value == ' ' || *value == '\t')
		value++;
	if (isdigit((unsigned char)*value)) {
		char *end;
		long v = strtol(value, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0' || v < 0)
			return AT_E_PARSE;
		/* A CA asking for more than a day between polls is capped: the scheduler decides beyond that. */
		*seconds = v > 86400 ? 86400 : v;
		return 0;
	}
	long long t;
	if (at_http_date(&t, value) != 0)
		return AT_E_PARSE;
	long d = (long)(t - now);
	if (d < 0)
		d = 0;
	*seconds = d > 86400 ? 86400 : d;
	return 0;
}

/*
 * One Link header value may hold several links: <url>; rel="a", <url2>; rel=b (RFC 8288 section 3). We walk
 * each <...> and look for a rel parameter whose value (quoted or not, possibly several space-separated rels)
 * contains rel.
 */
static int rel_matches(const char *params, size_t n, const char *rel)
{
	size_t rl = strlen(rel);
	for (size_t i = 0; i + 3 < n; i++) {
		if (strncasecmp(params + i, "rel", 3) != 0)
			continue;
		size_t j = i + 3;
		while (j < n && params[j] == ' ')
			j++;
		if (j >= n || params[j] != '=')
			continue;
		j++;
		while (j < n && params[j] == ' ')
			j++;
		int quoted = j < n && params[j] == '"';
		if (quoted)
			j++;
		while (j < n) {
			size_t k = j;
			while (k < n && params[k] != ' ' && params[k] != '"' && params[k] != ';' && params[k] != ',')
				k++;
			if (k - j == rl && strncasecmp(params + j, rel, rl) == 0)
				return 1;
			if (!quoted || k >= n || params[k] != ' ')
				break;
			j = k + 1;
		}
	}
	return 0;
}

int at_http_link(char **out, const struct at_http_response *resp, const char *rel, size_t idx)
{
	size_t seen = 0;
	for (size_t h = 0; h < resp->nlinks; h++) {
		const char *s = resp->links[h];
		while (s && *s) {
			const char *lt = strchr(s, '<');
			if (lt == NULL)
				break;
			const char *gt = strchr(lt, '>');
			if (gt == NULL)
				break;
			/* The parameters run to the next ',' that is followed (after spaces) by '<'. */
			const char *next = gt + 1;
			while (*next) {
				if (*next == ',') {
					const char *q = next + 1;
					while (*q == ' ' || *q == '\t')
						q++;
					if (*q == '<')
						break;
				}
				next++;
			}
			if (rel_matches(gt + 1, (size_t)(next - gt - 1), rel)) {
				if (seen++ == idx) {
					size_t len = (size_t)(gt - lt - 1);
					char *u = malloc(len + 1);
					if (u == NULL)
						return AT_E_NOMEM;
					memcpy(u, lt + 1, len);
					u[len] = '\0';
					*out = u;
					return 0;
				}
			}
			s = *next ? next + 1 : next;
		}
	}
	return AT_E_NOTFOUND;
}
