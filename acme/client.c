/* The client object: construction, the last problem, small shared helpers. */
#include "acme/client.h"
#include "util/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int at_acme_new(struct at_acme **out, const struct at_acme_config *cfg)
{
	if (cfg == NULL || cfg->directory_url == NULL ||
	    (strncmp(cfg->directory_url, "https://", 8) != 0 && strncmp(cfg->directory_url, "http://", 7) != 0))
		return AT_E_INVAL;
	struct at_acme *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return AT_E_NOMEM;
	c->problem.retry_after = -1;
	c->directory_url = strdup(cfg->directory_url);
	if (c->directory_url == NULL) {
		free(c);
		return AT_E_NOMEM;
	}
	c->request_timeout_ms = cfg->request_timeout_ms > 0 ? cfg->request_timeout_ms : 15000;
	c->poll_timeout_ms = cfg->poll_timeout_ms > 0 ? cfg->poll_timeout_ms : 120000;
	if (cfg->http) {
		c->http = *cfg->http;
	} else {
		int rc = at_http_curl_new(&c->http, cfg->ca_file, cfg->user_agent);
		if (rc != 0) {
			free(c->directory_url);
			free(c);
			return rc;
		}
	}
	*out = c;
	return 0;
}

void at_acme_free(struct at_acme *c)
{
	if (c == NULL)
		return;
	if (c->http.cleanup)
		c->http.cleanup(c->http.ctx);
	cJSON_Delete(c->dir);
	free(c->profiles);
	acme_nonce_clear(c);
	free(c->kid);
	free(c->directory_url);
	at_problem_clear(&c->problem);
	free(c);
}

const struct at_problem *at_acme_last_problem(const struct at_acme *c)
{
	return &c->problem;
}

void at_acme_problem_reset(struct at_acme *c, long retry_after)
{
	at_problem_clear(&c->problem);
	c->problem.retry_after = retry_after;
}

unsigned long at_acme_badnonce_retries(const struct at_acme *c)
{
	return c->badnonce_retries;
}

int at_acme_use_account(struct at_acme *c, const struct at_jws_key *key, const char *kid)
{
	char *k = strdup(kid);
	if (k == NULL)
		return AT_E_NOMEM;
	free(c->kid);
	c->kid = k;
	c->key = key;
	return 0;
}

void acme_note_date(struct at_acme *c, const struct at_http_response *resp)
{
	long long t;
	if (resp->date && at_http_date(&t, resp->date) == 0) {
		c->ca_skew_s = t - (long long)time(NULL);
		c->have_skew = 1;
	}
}

int at_acme_clock_skew(const struct at_acme *c, long *skew_s)
{
	if (!c->have_skew)
		return AT_E_NOTFOUND;
	*skew_s = (long)c->ca_skew_s;
	return 0;
}

int acme_sleep_ms(struct at_acme *c, long ms)
{
	/* In slices of at most a second with the keepalive between: a caller's lease (the issue lock's on etcd,
	 * 12 s) must outlive a long Retry-After. */
	while (ms > 0) {
		long piece = ms < 1000 ? ms : 1000;
		at_http_pause_ms(piece);
		ms -= piece;
		int rc = ms > 0 ? acme_keepalive(c) : 0;
		if (rc != 0)
			return rc;
	}
	return 0;
}

int acme_keepalive(struct at_acme *c)
{
	return c->keepalive ? c->keepalive(c->keepalive_ctx) : 0;
}

const char *acme_json_str(const cJSON *obj, const char *member)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, member);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int acme_json_body(cJSON **out, const struct at_http_response *resp)
{
	if (resp->body == NULL || resp->body_len == 0 || resp->body_len > AT_JSON_MAX)
		return resp->body_len > AT_JSON_MAX ? AT_E_TOOBIG : AT_E_PARSE;
	cJSON *j = cJSON_ParseWithLength(resp->body, resp->body_len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return AT_E_PARSE;
	}
	*out = j;
	return 0;
}

/* RFC 3339 section 5.6: date-time with optional fraction and a Z or +hh:mm offset. */
int acme_parse_time(time_t *out, const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (s == NULL)
		return AT_E_PARSE;
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return AT_E_PARSE;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return AT_E_PARSE;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	long offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int hh, mm;
		if (p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9' || p[3] != ':' || p[4] < '0' || p[4] > '9' ||
		    p[5] < '0' || p[5] > '9')
			return AT_E_PARSE;
		hh = (p[1] - '0') * 10 + (p[2] - '0');
		mm = (p[4] - '0') * 10 + (p[5] - '0');
		offset = sign * (hh * 3600L + mm * 60L);
		p += 6;
	} else {
		return AT_E_PARSE;
	}
	if (*p != '\0')
		return AT_E_PARSE;
	*out = timegm(&tm) - offset;
	return 0;
}
