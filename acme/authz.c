/*
 * Authorizations (RFC 8555 section 7.5) and challenges (section 8).
 *
 * Polling starts at 5 ms and doubles up to one second: on loopback Pebble validates in milliseconds, and the
 * fixed 250 ms to 1 s sleeps peers use are most of their time to a first certificate. A Retry-After from the
 * CA (section 7.5.1) takes precedence.
 */
#include "acme/authz.h"
#include "util/clock.h"
#include "acme/challenge_data.h"
#include "acme/csr.h"
#include "util/err.h"
#include "util/log.h"

#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_FIRST_MS 5
#define POLL_CAP_MS 1000

long acme_poll_delay_ms(int attempt, const char *retry_after, long long deadline_ms)
{
	long d = POLL_FIRST_MS;
	for (int i = 0; i < attempt && d < POLL_CAP_MS; i++)
		d *= 2;
	if (d > POLL_CAP_MS)
		d = POLL_CAP_MS;
	long ra;
	if (retry_after && at_http_retry_after(&ra, retry_after, (long)time(NULL)) == 0)
		d = ra * 1000 > d ? ra * 1000 : d;
	long long left = deadline_ms - at_clock_ms();
	if (left < 0)
		left = 0;
	return d > left ? (long)left : d;
}

/* The authorization's status and object; *out new on success. */
static int fetch_authz(struct at_acme *c, const char *url, cJSON **out, char **retry_after)
{
	struct at_http_response resp;
	int rc = acme_post(c, url, NULL, 0, NULL, &resp);
	if (rc != 0)
		return rc;
	rc = acme_json_body(out, &resp);
	if (rc == 0 && retry_after) {
		*retry_after = resp.retry_after;
		resp.retry_after = NULL;
	}
	at_http_response_clear(&resp);
	return rc;
}

static int build_challenge(struct at_acme *c, struct acme_authz_work *w, const struct at_solver *s,
			   const cJSON *chal, const cJSON *authz, const struct at_jws_key *key)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(authz, "identifier");
	const char *type = acme_json_str(id, "type");
	const char *value = acme_json_str(id, "value");
	const char *token = acme_json_str(chal, "token");
	const char *url = acme_json_str(chal, "url");
	int rc;

	/* Section 8.1: tokens are base64url with enough entropy; anything else could end up in a path. */
	if (type == NULL || value == NULL || token == NULL || url == NULL || strlen(token) < 16 ||
	    strlen(token) > 256 || strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
					   strlen(token))
		return AT_E_PARSE;
	w->identifier_type = strdup(type);
	w->identifier = strdup(value);
	w->token = strdup(token);
	w->challenge_url = strdup(url);
	if (!w->identifier_type || !w->identifier || !w->token || !w->challenge_url)
		return AT_E_NOMEM;
	rc = at_key_authorization(&w->key_authorization, token, key);
	if (rc != 0)
		return rc;

	struct at_challenge *ch = &w->ch;
	memset(ch, 0, sizeof(*ch));
	ch->type = s->type;
	ch->identifier_type = w->identifier_type;
	ch->identifier = w->identifier;
	ch->wildcard = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(authz, "wildcard"));
	ch->token = w->token;
	ch->key_authorization = w->key_authorization;
	ch->keepalive = c->keepalive;
	ch->keepalive_ctx = c->keepalive_ctx;
	switch (s->type) {
	case AT_CHALLENGE_DNS_01: {
		size_t n = strlen(value) + sizeof("_acme-challenge.");
		w->txt_name = malloc(n);
		if (w->txt_name == NULL)
			return AT_E_NOMEM;
		snprintf(w->txt_name, n, "_acme-challenge.%s", value);
		rc = at_dns01_txt_value(&w->txt_value, w->key_authorization);
		if (rc != 0)
			return rc;
		ch->dns_txt_name = w->txt_name;
		ch->dns_txt_value = w->txt_value;
		break;
	}
	case AT_CHALLENGE_TLS_ALPN_01:
		rc = at_alpn01_cert_make(&w->alpn_cert, &w->alpn_key, value, w->key_authorization);
		if (rc != 0)
			return rc;
		if (strcmp(type, "ip") == 0) {
			rc = at_reverse_dns_name(&w->sni, value);
			if (rc != 0)
				return rc;
		} else {
			w->sni = strdup(value);
			if (w->sni == NULL)
				return AT_E_NOMEM;
		}
		ch->alpn_cert = w->alpn_cert;
		ch->alpn_key = w->alpn_key;
		ch->alpn_sni = w->sni;
		break;
	case AT_CHALLENGE_HTTP_01:
	default:
		break;
	}
	return 0;
}

int acme_authz_prepare(struct at_acme *c, const char *authz_url, const struct at_solver *solvers, size_t nsolvers,
		       struct acme_authz_work *w)
{
	cJSON *authz = NULL;
	int rc;

	memset(w, 0, sizeof(*w));
	w->authz_url = strdup(authz_url);
	if (w->authz_url == NULL)
		return AT_E_NOMEM;
	rc = fetch_authz(c, authz_url, &authz, NULL);
	if (rc != 0)
		return rc;
	const char *status = acme_json_str(authz, "status");
	if (status && strcmp(status, "valid") == 0) {
		/* Section 7.1.4: a valid authorization (reused from an earlier order) needs no challenge. */
		w->done = 1;
		rc = 0;
		goto out;
	}
	if (status == NULL || strcmp(status, "pending") != 0) {
		at_log_warn("ACME authorization %s is %s", authz_url, status ? status : "without status");
		rc = AT_E_AUTHZ_INVALID;
		goto out;
	}
	const cJSON *chals = cJSON_GetObjectItemCaseSensitive(authz, "challenges");
	rc = AT_E_NO_SOLVER;
	for (size_t i = 0; i < nsolvers && rc == AT_E_NO_SOLVER; i++) {
		const cJSON *chal;
		cJSON_ArrayForEach(chal, chals)
		{
			enum at_challenge_type t;
			if (at_challenge_type_parse(&t, acme_json_str(chal, "type")) != 0 || t != solvers[i].type)
				continue;
			rc = build_challenge(c, w, &solvers[i], chal, authz, c->key);
			if (rc != 0)
				goto out;
			rc = solvers[i].present(solvers[i].ctx, &w->ch);
			if (rc != 0) {
				at_log_warn("%s for %s: the solver could not present it (%s)",
					    at_challenge_type_name(t), w->identifier, at_strerror(rc));
				rc = AT_E_CHALLENGE;
				goto out;
			}
			w->solver = &solvers[i];
			w->presented = 1;
			/* a present() may have waited long (DNS-01): the lease, first */
			rc = acme_keepalive(c);
			if (rc != 0)
				goto out;
			at_log_debug("%s presented for %s", at_challenge_type_name(t), w->identifier);
			break;
		}
	}
	if (rc == AT_E_NO_SOLVER)
		at_log_warn("ACME authorization %s: no configured solver matches an offered challenge", authz_url);
out:
	cJSON_Delete(authz);
	return rc;
}

int acme_authz_respond(struct at_acme *c, struct acme_authz_work *w)
{
	struct at_http_response resp;
	if (w->done)
		return 0;
	/* Section 7.5.1: an empty JSON object tells the server the challenge is ready. */
	int rc = acme_post(c, w->challenge_url, "{}", 0, NULL, &resp);
	if (rc == 0)
		at_http_response_clear(&resp);
	return rc;
}

/* Copies the failed challenge's error (section 7.5.1: in the challenge object) into c->problem. */
static void take_challenge_error(struct at_acme *c, const cJSON *authz)
{
	const cJSON *chal;
	cJSON_ArrayForEach(chal, cJSON_GetObjectItemCaseSensitive(authz, "challenges"))
	{
		const cJSON *err = cJSON_GetObjectItemCaseSensitive(chal, "error");
		if (!cJSON_IsObject(err))
			continue;
		char *txt = cJSON_PrintUnformatted(err);
		if (txt) {
			struct at_problem p;
			memset(&p, 0, sizeof(p));
			if (at_problem_parse(&p, txt, strlen(txt)) == 0)
				at_problem_move(&c->problem, &p);
			free(txt);
		}
		return;
	}
}

int acme_authz_wait(struct at_acme *c, struct acme_authz_work *w, long long deadline_ms)
{
	if (w->done)
		return 0;
	for (int attempt = 0;; attempt++) {
		cJSON *authz = NULL;
		char *retry_after = NULL;
		int rc = fetch_authz(c, w->authz_url, &authz, &retry_after);
		if (rc != 0)
			return rc;
		const char *status = acme_json_str(authz, "status");
		if (status && strcmp(status, "valid") == 0) {
			w->done = 1;
			rc = 0;
		} else if (status && strcmp(status, "pending") == 0) {
			rc = 1;
		} else {
			take_challenge_error(c, authz);
			at_log_warn("ACME authorization for %s is %s: %s: %s", w->identifier ? w->identifier : "?",
				    status ? status : "without status", at_problem_short_type(&c->problem),
				    c->problem.detail ? c->problem.detail : "");
			rc = AT_E_AUTHZ_INVALID;
		}
		cJSON_Delete(authz);
		if (rc <= 0) {
			free(retry_after);
			return rc;
		}
		if (at_clock_ms() >= deadline_ms) {
			free(retry_after);
			at_log_warn("ACME authorization for %s: still pending at the deadline", w->identifier);
			return AT_E_TIMEOUT;
		}
		rc = acme_sleep_ms(c, acme_poll_delay_ms(attempt, retry_after, deadline_ms));
		free(retry_after);
		if (rc == 0)
			rc = acme_keepalive(c);
		if (rc != 0)
			return rc;
	}
}

void acme_authz_cleanup(struct acme_authz_work *w)
{
	if (w->presented && w->solver && w->solver->cleanup)
		w->solver->cleanup(w->solver->ctx, &w->ch);
	free(w->authz_url);
	free(w->challenge_url);
	free(w->identifier_type);
	free(w->identifier);
	free(w->token);
	if (w->key_authorization)
		OPENSSL_cleanse(w->key_authorization, strlen(w->key_authorization));
	free(w->key_authorization);
	free(w->txt_name);
	free(w->txt_value);
	free(w->sni);
	X509_free(w->alpn_cert);
	EVP_PKEY_free(w->alpn_key);
	memset(w, 0, sizeof(*w));
}
