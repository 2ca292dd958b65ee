/* Problem documents (RFC 8555 section 6.7). */
#include "acme/problem.h"
#include "util/err.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"

static char *dup_json_string(const cJSON *obj, const char *member)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, member);
	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return NULL;
	/* Details are shown in logs: keep them to one sane line. */
	size_t n = strnlen(v->valuestring, 1024);
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, v->valuestring, n);
		s[n] = '\0';
	}
	return s;
}

void at_problem_clear(struct at_problem *p)
{
	free(p->type);
	free(p->detail);
	for (size_t i = 0; i < p->nsub; i++) {
		free(p->sub[i].type);
		free(p->sub[i].detail);
		free(p->sub[i].identifier);
	}
	memset(p, 0, sizeof(*p));
	p->retry_after = -1;
}

void at_problem_move(struct at_problem *dst, struct at_problem *src)
{
	at_problem_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
	src->retry_after = -1;
}

int at_problem_parse(struct at_problem *p, const char *json, size_t len)
{
	at_problem_clear(p);
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return AT_E_PARSE;
	}
	p->type = dup_json_string(root, "type");
	p->detail = dup_json_string(root, "detail");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
	/* RFC 7807 section 3.1: an HTTP status code. Anything else is ignored (and converting an out-of-range
	 * double to long would be undefined behaviour). */
	if (cJSON_IsNumber(status) && status->valuedouble >= 100 && status->valuedouble <= 599)
		p->status = (long)status->valuedouble;
	const cJSON *subs = cJSON_GetObjectItemCaseSensitive(root, "subproblems");
	const cJSON *sub;
	cJSON_ArrayForEach(sub, subs)
	{
		if (p->nsub >= AT_PROBLEM_MAX_SUB)
			break;
		if (!cJSON_IsObject(sub))
			continue;
		struct at_subproblem *sp = &p->sub[p->nsub++];
		sp->type = dup_json_string(sub, "type");
		sp->detail = dup_json_string(sub, "detail");
		sp->identifier = dup_json_string(cJSON_GetObjectItemCaseSensitive(sub, "identifier"), "value");
	}
	cJSON_Delete(root);
	if (p->type == NULL) {
		at_problem_clear(p);
		return AT_E_PARSE;
	}
	return 0;
}

const char *at_problem_short_type(const struct at_problem *p)
{
	if (p->type == NULL)
		return "";
	if (strncmp(p->type, ACME_ERR_PREFIX, strlen(ACME_ERR_PREFIX)) == 0)
		return p->type + strlen(ACME_ERR_PREFIX);
	return p->type;
}

int at_problem_code(const struct at_problem *p)
{
	static const struct {
		const char *type;
		int code;
	} map[] = {
		{ "badNonce", AT_E_BADNONCE },
		{ "rateLimited", AT_E_RATELIMITED },
		{ "accountDoesNotExist", AT_E_NO_ACCOUNT },
		{ "externalAccountRequired", AT_E_EAB_REQUIRED },
		{ "alreadyRevoked", AT_E_ALREADY_REVOKED },
		{ "rejectedIdentifier", AT_E_REJECTED_ID },
		{ "unsupportedIdentifier", AT_E_REJECTED_ID },
	};
	if (p->type == NULL || strncmp(p->type, ACME_ERR_PREFIX, strlen(ACME_ERR_PREFIX)) != 0)
		return AT_E_ACME;
	const char *t = p->type + strlen(ACME_ERR_PREFIX);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(t, map[i].type) == 0)
			return map[i].code;
	return AT_E_ACME;
}
