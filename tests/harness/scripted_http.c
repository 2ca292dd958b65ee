/* The scripted HTTP seam (see scripted_http.h). */
#include "tests/harness/scripted_http.h"
#include "util/b64.h"
#include "util/err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *jws_payload(const char *body, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "payload");
	char *out = NULL;
	if (cJSON_IsString(p)) {
		unsigned char *d;
		size_t dl;
		if (at_b64url_decode(&d, &dl, p->valuestring, strlen(p->valuestring)) == 0) {
			out = malloc(dl + 1);
			memcpy(out, d, dl);
			out[dl] = '\0';
			free(d);
		}
	}
	cJSON_Delete(j);
	return out;
}

int scripted_perform(void *vctx, const struct at_http_request *req, struct at_http_response *resp)
{
	struct script *s = vctx;
	memset(resp, 0, sizeof(*resp));
	char nonce[32];
	snprintf(nonce, sizeof(nonce), "nonce-%d", ++s->nonce);
	resp->replay_nonce = strdup(nonce);
	size_t ul = strlen(req->url);
	if (strcmp(req->method, "HEAD") == 0 &&
	    (s->nonce_url ? strcmp(req->url, s->nonce_url) == 0 : ul >= 6 && strcmp(req->url + ul - 6, "/nonce") == 0)) {
		resp->status = 200;
		return 0;
	}
	if (s->pos >= s->n || strcmp(s->steps[s->pos].method, req->method) != 0 ||
	    strcmp(s->steps[s->pos].url, req->url) != 0) {
		fprintf(stderr, "  off script at step %zu: %s %s\n", s->pos, req->method, req->url);
		s->off_script = 1;
		resp->status = 500;
		return 0;
	}
	const struct step *st = &s->steps[s->pos++];
	if (st->payload_has || st->payload_lacks) {
		char *p = jws_payload(req->body, req->body_len);
		if (p == NULL || (st->payload_has && strstr(p, st->payload_has) == NULL) ||
		    (st->payload_lacks && strstr(p, st->payload_lacks) != NULL)) {
			fprintf(stderr, "  step %zu: payload %s\n", s->pos - 1, p ? p : "(none)");
			s->off_script = 1;
		}
		free(p);
	}
	resp->status = st->status;
	if (st->ctype)
		resp->content_type = strdup(st->ctype);
	const char *body = st->body && strcmp(st->body, "@CHAIN") == 0 ? s->chain : st->body;
	if (body) {
		size_t max = req->max_body ? req->max_body : AT_HTTP_MAX_BODY;
		if (strlen(body) > max) {
			at_http_response_clear(resp);
			return AT_E_TOOBIG;
		}
		resp->body = strdup(body);
		resp->body_len = strlen(body);
	}
	if (st->location)
		resp->location = strdup(st->location);
	if (st->retry_after)
		resp->retry_after = strdup(st->retry_after);
	if (st->date)
		resp->date = strdup(st->date);
	if (st->link) {
		resp->links[0] = strdup(st->link);
		resp->nlinks = 1;
	}
	return 0;
}

