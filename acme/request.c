/*
 * The request layer: the nonce pool (RFC 8555 section 7.2), signed POSTs (section 6.2) and the retry policy
 * that belongs above the HTTP seam:
 *   - badNonce (section 6.5): the request is signed again with the nonce from the error response, up to
 *     BADNONCE_RETRIES times (Pebble's PEBBLE_WFE_NONCEREJECT rejects any share of good nonces);
 *   - rateLimited (section 6.6): a Retry-After of at most RATELIMIT_WAIT_MAX_S is waited out once; a longer one
 *     is returned to the caller, whose scheduler backs off;
 *   - everything else with a problem document becomes an error with c->problem set.
 * Only URLs, methods and statuses are logged, never a request body or a JWS.
 */
#include "acme/client.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BADNONCE_RETRIES 40
#define RATELIMIT_WAIT_MAX_S 10

void acme_nonce_keep(struct at_acme *c, char *nonce)
{
	if (nonce == NULL)
		return;
	if (c->nnonces == AT_NONCE_POOL) {
		free(c->nonces[0]);
		memmove(c->nonces, c->nonces + 1, sizeof(c->nonces[0]) * (AT_NONCE_POOL - 1));
		c->nnonces--;
	}
	c->nonces[c->nnonces++] = nonce;
}

void acme_nonce_clear(struct at_acme *c)
{
	for (size_t i = 0; i < c->nnonces; i++)
		free(c->nonces[i]);
	c->nnonces = 0;
}

int acme_nonce_take(struct at_acme *c, char **out)
{
	if (c->nnonces > 0) {
		/* Newest first: the CA is likeliest to still hold it. */
		*out = c->nonces[--c->nnonces];
		return 0;
	}
	int rc = acme_directory_load(c);
	if (rc != 0)
		return rc;
	struct at_http_request req = {
		.method = "HEAD", .url = c->url_new_nonce, .timeout_ms = c->request_timeout_ms, .during = c->keepalive,
		.during_ctx = c->keepalive_ctx, .max_body = 4096,
	};
	struct at_http_response resp;
	rc = c->http.perform(c->http.ctx, &req, &resp);
	if (rc != 0) {
		at_log_warn("ACME newNonce %s: %s", c->url_new_nonce, at_strerror(rc));
		return rc;
	}
	acme_note_date(c, &resp);
	if ((resp.status != 200 && resp.status != 204) || resp.replay_nonce == NULL) {
		at_log_warn("ACME newNonce %s: HTTP %ld without a nonce", c->url_new_nonce, resp.status);
		at_http_response_clear(&resp);
		return AT_E_HTTP;
	}
	*out = resp.replay_nonce;
	resp.replay_nonce = NULL;
	at_http_response_clear(&resp);
	return 0;
}

/* Turns a non-2xx response into an error code, with the problem document in c->problem when there is one. */
static int fail_from_response(struct at_acme *c, const char *what, const char *url, struct at_http_response *resp)
{
	struct at_problem p;
	memset(&p, 0, sizeof(p));
	p.retry_after = -1;
	int code = AT_E_HTTP;
	if (resp->status >= 300 && resp->status <= 399) {
		/* No redirect is followed (http.h): a CA has no reason to send one, and following it to another
		 * host is how a hostile CA would make us fetch what it likes. */
		at_problem_clear(&c->problem);
		c->problem.status = resp->status;
		at_log_warn("ACME %s %s: HTTP %ld redirect to %s refused", what, url, resp->status,
			    resp->location ? resp->location : "nowhere");
		return AT_E_REDIRECT;
	}
	if (resp->body && resp->content_type && strcmp(resp->content_type, "application/problem+json") == 0 &&
	    resp->body_len <= AT_JSON_MAX && at_problem_parse(&p, resp->body, resp->body_len) == 0) {
		code = at_problem_code(&p);
		if (p.status == 0)
			p.status = resp->status;
		long ra;
		if (resp->retry_after && at_http_retry_after(&ra, resp->retry_after, (long)time(NULL)) == 0)
			p.retry_after = ra;
		at_problem_move(&c->problem, &p);
		if (code != AT_E_BADNONCE)
			at_log_warn("ACME %s %s: HTTP %ld %s: %s", what, url, resp->status,
				    at_problem_short_type(&c->problem), c->problem.detail ? c->problem.detail : "");
	} else {
		at_problem_clear(&c->problem);
		c->problem.status = resp->status;
		at_log_warn("ACME %s %s: HTTP %ld (%s)", what, url, resp->status,
			    resp->content_type ? resp->content_type : "no content type");
	}
	return code;
}

int acme_get(struct at_acme *c, const char *url, struct at_http_response *resp)
{
	struct at_http_request req = {
		.method = "GET", .url = url, .timeout_ms = c->request_timeout_ms, .during = c->keepalive,
		.during_ctx = c->keepalive_ctx, .max_body = AT_JSON_MAX,
	};
	int rc = c->http.perform(c->http.ctx, &req, resp);
	if (rc != 0) {
		at_log_warn("ACME GET %s: %s", url, at_strerror(rc));
		return rc;
	}
	acme_note_date(c, resp);
	acme_nonce_keep(c, resp->replay_nonce);
	resp->replay_nonce = NULL;
	if (resp->status < 200 || resp->status > 299) {
		rc = fail_from_response(c, "GET", url, resp);
		at_http_response_clear(resp);
		return rc;
	}
	return 0;
}

int acme_post(struct at_acme *c, const char *url, const char *payload, int use_jwk, const char *accept,
	      struct at_http_response *resp)
{
	int rc = acme_directory_load(c);
	if (rc != 0)
		return rc;
	if (c->key == NULL || (!use_jwk && c->kid == NULL))
		return AT_E_STATE;
	(void)accept; /* PEM chains come as application/pem-certificate-chain whatever we accept */

	int ratelimit_waited = 0;
	for (int attempt = 0;; attempt++) {
		char *nonce = NULL;
		char *jws = NULL;
		rc = acme_nonce_take(c, &nonce);
		if (rc != 0)
			return rc;
		rc = at_jws_sign(&jws, c->key, url, nonce, use_jwk ? NULL : c->kid, payload);
		free(nonce);
		if (rc != 0)
			return rc;
		struct at_http_request req = {
			.method = "POST", .url = url, .content_type = "application/jose+json", .body = jws,
			.body_len = strlen(jws), .timeout_ms = c->request_timeout_ms, .during = c->keepalive,
			.during_ctx = c->keepalive_ctx, .max_body = AT_HTTP_MAX_BODY,
		};
		rc = c->http.perform(c->http.ctx, &req, resp);
		free(jws);
		if (rc != 0) {
			at_log_warn("ACME POST %s: %s", url, at_strerror(rc));
			return rc;
		}
		acme_note_date(c, resp);
		acme_nonce_keep(c, resp->replay_nonce);
		resp->replay_nonce = NULL;
		if (resp->status >= 200 && resp->status <= 299) {
			at_problem_clear(&c->problem);
			return 0;
		}
		rc = fail_from_response(c, "POST", url, resp);
		at_http_response_clear(resp);
		if (rc == AT_E_BADNONCE && attempt < BADNONCE_RETRIES) {
			c->badnonce_retries++;
			at_log_debug("ACME POST %s: badNonce, retrying with a fresh nonce", url);
			continue;
		}
		if (rc == AT_E_RATELIMITED && !ratelimit_waited && c->problem.retry_after >= 0 &&
		    c->problem.retry_after <= RATELIMIT_WAIT_MAX_S) {
			ratelimit_waited = 1;
			at_log_info("ACME POST %s: rate limited, waiting %ld s as the CA asks", url,
				    c->problem.retry_after);
			rc = acme_sleep_ms(c, c->problem.retry_after * 1000);
			if (rc != 0)
				return rc;
			continue;
		}
		return rc;
	}
}
