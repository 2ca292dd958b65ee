/*
 * Issuance (RFC 8555 section 7.4) as an explicit state machine: new order, authorize (present every challenge,
 * then respond to all so the CA validates them in parallel, then wait), wait for "ready", finalize with a CSR,
 * wait for "valid", download (choosing among alternate chains, section 7.4.2), check. Every state either moves
 * on or fails; every presented challenge is cleaned up on every path.
 */
#include "acme/authz.h"
#include "util/clock.h"
#include "acme/csr.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/x509.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum obtain_state {
	OB_RESUME,
	OB_NEW_ORDER,
	OB_AUTHORIZE,
	OB_WAIT_READY,
	OB_FINALIZE,
	OB_WAIT_VALID,
	OB_DOWNLOAD,
	OB_CHECK,
	OB_DONE,
};

struct obtain {
	struct at_acme *c;
	const struct at_acme_order_opts *o;
	char *order_url;     /* owned */
	cJSON *order;        /* owned: the latest order object */
	EVP_PKEY *key;       /* owned or borrowed (own_key) */
	int own_key;
	int send_replaces;
	struct acme_authz_work *work; /* owned array of nwork */
	size_t nwork;
	char *cert_url;      /* owned */
	char *chain;         /* owned */
	size_t chain_len;
};

int at_acme_last_finalized(const struct at_acme *c)
{
	return c->finalized;
}

void at_acme_cert_clear(struct at_acme_cert *cert)
{
	free(cert->chain_pem);
	at_secret_free(cert->key_pem, cert->key_len);
	free(cert->cert_url);
	memset(cert, 0, sizeof(*cert));
}

static int profile_listed(const struct at_acme *c, const char *profile)
{
	for (size_t i = 0; i < c->nprofiles; i++)
		if (strcmp(c->profiles[i], profile) == 0)
			return 1;
	return 0;
}

static int order_payload(char **out, struct obtain *ob)
{
	const struct at_acme_order_opts *o = ob->o;
	cJSON *p = cJSON_CreateObject();
	cJSON *ids = cJSON_AddArrayToObject(p, "identifiers");
	if (p == NULL || ids == NULL)
		goto nomem;
	for (size_t i = 0; i < o->nnames; i++) {
		cJSON *id = cJSON_CreateObject();
		if (id == NULL || !cJSON_AddItemToArray(ids, id))
			goto nomem;
		/* RFC 8738 section 3: IP identifiers have type "ip". */
		if (!cJSON_AddStringToObject(id, "type", at_name_is_ip(o->names[i]) ? "ip" : "dns") ||
		    !cJSON_AddStringToObject(id, "value", o->names[i]))
			goto nomem;
	}
	if (o->profile && profile_listed(ob->c, o->profile) && !cJSON_AddStringToObject(p, "profile", o->profile))
		goto nomem;
	if (ob->send_replaces && !cJSON_AddStringToObject(p, "replaces", o->replaces))
		goto nomem;
	*out = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	return *out ? 0 : AT_E_NOMEM;
nomem:
	cJSON_Delete(p);
	return AT_E_NOMEM;
}

static int take_order(struct obtain *ob, struct at_http_response *resp)
{
	cJSON *order = NULL;
	int rc = acme_json_body(&order, resp);
	if (rc != 0)
		return rc;
	cJSON_Delete(ob->order);
	ob->order = order;
	return 0;
}

static int st_new_order(struct obtain *ob)
{
	struct at_acme *c = ob->c;
	const struct at_acme_order_opts *o = ob->o;
	struct at_http_response resp;
	char *payload = NULL;
	int rc;

	if (o->profile && !profile_listed(c, o->profile)) {
		if (o->profile_required) {
			at_log_error("ACME profile \"%s\" is required but %s does not offer it", o->profile,
				     c->directory_url);
			return AT_E_UNSUPPORTED;
		}
		at_log_info("ACME profile \"%s\" is not offered by %s; ordering without a profile", o->profile,
			    c->directory_url);
	}
	/* RFC 9773 section 5: "replaces" only when the CA has ARI. */
	ob->send_replaces = o->replaces != NULL && c->url_renewal_info != NULL;
	for (;;) {
		rc = order_payload(&payload, ob);
		if (rc != 0)
			return rc;
		rc = acme_post(c, c->url_new_order, payload, 0, NULL, &resp);
		free(payload);
		payload = NULL;
		if (rc != 0 && ob->send_replaces && at_err_band(rc) == AT_BAND_ACME && rc != AT_E_RATELIMITED) {
			/* The CA may refuse "replaces" (already replaced, unknown certificate): order again
			 * without it rather than not renewing at all. */
			at_log_info("ACME newOrder refused \"replaces\" (%s); ordering again without it",
				    at_problem_short_type(&c->problem));
			ob->send_replaces = 0;
			continue;
		}
		break;
	}
	if (rc != 0)
		return rc;
	if (resp.location == NULL) {
		at_http_response_clear(&resp);
		return AT_E_PARSE;
	}
	ob->order_url = strdup(resp.location);
	rc = ob->order_url ? take_order(ob, &resp) : AT_E_NOMEM;
	at_http_response_clear(&resp);
	if (rc == 0 && o->on_order)
		rc = o->on_order(o->on_order_ctx, ob->order_url);
	return rc;
}

/*
 * Continues an order placed earlier, from its status (section 7.1.6). An order the CA no longer has, refuses to
 * show us, or that is invalid is replaced by a new one (*next = OB_NEW_ORDER); a network failure or a CA in
 * trouble (5xx, rateLimited) is returned, and the order stays the caller's to resume later.
 */
static int st_resume(struct obtain *ob, enum obtain_state *next)
{
	struct at_acme *c = ob->c;
	const char *url = ob->o->resume_url;
	struct at_http_response resp;
	int rc = acme_post(c, url, NULL, 0, NULL, &resp);
	if (rc == 0) {
		rc = take_order(ob, &resp);
		at_http_response_clear(&resp);
	}
	if (rc == AT_E_NET || rc == AT_E_TIMEOUT || rc == AT_E_RATELIMITED || rc == AT_E_BADNONCE ||
	    rc == AT_E_NOMEM || (rc != 0 && c->problem.status >= 500))
		return rc;
	const char *status = rc == 0 ? acme_json_str(ob->order, "status") : NULL;
	*next = OB_NEW_ORDER;
	if (status && strcmp(status, "pending") == 0)
		*next = OB_AUTHORIZE;
	else if (status && strcmp(status, "ready") == 0)
		*next = OB_FINALIZE;
	else if (status && strcmp(status, "processing") == 0)
		*next = OB_WAIT_VALID;
	else if (status && strcmp(status, "valid") == 0)
		*next = OB_DOWNLOAD;
	if (*next == OB_NEW_ORDER) {
		at_log_info("ACME order %s cannot be resumed (%s); placing a new one", url,
			    rc != 0 ? at_strerror(rc) : status ? status : "no status");
		cJSON_Delete(ob->order);
		ob->order = NULL;
		at_problem_clear(&c->problem);
		return 0;
	}
	at_log_info("resuming ACME order %s (%s)", url, status);
	/* processing or valid: the CSR went in before, the certificate is on its way */
	if (*next == OB_WAIT_VALID || *next == OB_DOWNLOAD)
		c->finalized = 1;
	ob->order_url = strdup(url);
	return ob->order_url ? 0 : AT_E_NOMEM;
}

static int st_authorize(struct obtain *ob)
{
	const cJSON *authzs = cJSON_GetObjectItemCaseSensitive(ob->order, "authorizations");
	int n = cJSON_GetArraySize(authzs);
	int rc = 0;

	if (!cJSON_IsArray(authzs) || n <= 0 || n > AT_MAX_NAMES)
		return AT_E_PARSE;
	ob->work = calloc((size_t)n, sizeof(*ob->work));
	if (ob->work == NULL)
		return AT_E_NOMEM;
	const cJSON *a;
	cJSON_ArrayForEach(a, authzs)
	{
		if (!cJSON_IsString(a))
			return AT_E_PARSE;
		rc = acme_authz_prepare(ob->c, a->valuestring, ob->o->solvers, ob->o->nsolvers, &ob->work[ob->nwork]);
		ob->nwork++;
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < ob->nwork; i++) {
		rc = acme_authz_respond(ob->c, &ob->work[i]);
		if (rc != 0)
			return rc;
	}
	/* The wait starts now, once every challenge is presented (a DNS-01 solver may have waited minutes for its
	 * record to show) and the CA told: it is the CA's time to validate, not ours to present. */
	long long deadline = at_clock_ms() + ob->c->poll_timeout_ms;
	for (size_t i = 0; i < ob->nwork; i++) {
		rc = acme_authz_wait(ob->c, &ob->work[i], deadline);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Polls the order until its status leaves "pending"/"processing" (0 when it reached want), within its own
 * poll_timeout_ms. */
static int wait_order(struct obtain *ob, const char *want)
{
	long long deadline = at_clock_ms() + ob->c->poll_timeout_ms;
	for (int attempt = 0;; attempt++) {
		const char *status = acme_json_str(ob->order, "status");
		if (status && strcmp(status, want) == 0)
			return 0;
		if (status == NULL || strcmp(status, "invalid") == 0 ||
		    (strcmp(status, "pending") != 0 && strcmp(status, "processing") != 0 &&
		     strcmp(status, "ready") != 0)) {
			at_log_warn("ACME order %s is %s", ob->order_url, status ? status : "without status");
			const cJSON *err = cJSON_GetObjectItemCaseSensitive(ob->order, "error");
			char *txt = cJSON_IsObject(err) ? cJSON_PrintUnformatted(err) : NULL;
			struct at_problem p;
			memset(&p, 0, sizeof(p));
			if (txt && at_problem_parse(&p, txt, strlen(txt)) == 0)
				at_problem_move(&ob->c->problem, &p);
			free(txt);
			return AT_E_ORDER_INVALID;
		}
		if (at_clock_ms() >= deadline) {
			at_log_warn("ACME order %s: still %s at the deadline", ob->order_url, status);
			return AT_E_TIMEOUT;
		}
		struct at_http_response resp;
		int rc = acme_keepalive(ob->c);
		if (rc != 0)
			return rc;
		rc = acme_post(ob->c, ob->order_url, NULL, 0, NULL, &resp);
		if (rc != 0)
			return rc;
		rc = take_order(ob, &resp);
		long ra = -1;
		if (resp.retry_after && at_http_retry_after(&ra, resp.retry_after, (long)time(NULL)) != 0)
			ra = -1;
		long delay = acme_poll_delay_ms(attempt, resp.retry_after, deadline);
		at_http_response_clear(&resp);
		if (rc != 0)
			return rc;
		status = acme_json_str(ob->order, "status");
		if (ra > 0 && at_clock_ms() + ra * 1000 > deadline && status && strcmp(status, want) != 0 &&
		    (strcmp(status, "pending") == 0 || strcmp(status, "processing") == 0)) {
			/* Section 7.4: the CA says when to look again, and that is past our wait: stop now and let the
			 * caller come back then (the order is kept and resumed) rather than poll against its word. */
			at_log_info("ACME order %s is %s; the CA asks to look again in %ld s", ob->order_url, status, ra);
			at_problem_clear(&ob->c->problem);
			ob->c->problem.retry_after = ra;
			return AT_E_TIMEOUT;
		}
		/* Every status the loop goes on with (pending, processing, and ready while waiting for valid) waits
		 * first: a CA that keeps answering "ready" after finalize must not be polled in a tight loop. */
		if (status && strcmp(status, want) != 0) {
			int src = acme_sleep_ms(ob->c, delay);
			if (src != 0)
				return src;
		}
	}
}

static int st_finalize(struct obtain *ob)
{
	unsigned char *der = NULL;
	size_t der_len = 0;
	char *csr_b64 = NULL, *payload = NULL;
	struct at_http_response resp;
	const char *url = acme_json_str(ob->order, "finalize");
	int rc;

	if (url == NULL)
		return AT_E_PARSE;
	if (ob->key == NULL) {
		rc = at_key_generate(&ob->key, ob->o->key_type);
		if (rc != 0)
			return rc;
		ob->own_key = 1;
	}
	rc = at_csr_make_ex(&der, &der_len, ob->key, ob->o->names, ob->o->nnames, ob->o->must_staple);
	if (rc != 0)
		return rc;
	rc = at_b64url_encode(&csr_b64, der, der_len);
	free(der);
	if (rc != 0)
		return rc;
	size_t n = strlen(csr_b64) + 16;
	payload = malloc(n);
	if (payload == NULL) {
		free(csr_b64);
		return AT_E_NOMEM;
	}
	snprintf(payload, n, "{\"csr\":\"%s\"}", csr_b64);
	free(csr_b64);
	/* From here on the CA may issue, whether or not its answer reaches us. */
	ob->c->finalized = 1;
	rc = acme_post(ob->c, url, payload, 0, NULL, &resp);
	free(payload);
	if (rc != 0)
		return rc;
	rc = take_order(ob, &resp);
	at_http_response_clear(&resp);
	return rc;
}

/* The issuer CN of the chain's topmost certificate: what preferred_chain names (the root it chains to). */
static int chain_top_issuer_is(const char *pem, size_t len, const char *cn)
{
	STACK_OF(X509) *chain = NULL;
	char buf[256];
	int match = 0;
	if (at_chain_parse(&chain, pem, len) != 0)
		return 0;
	X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);
	if (X509_NAME_get_text_by_NID(X509_get_issuer_name(top), NID_commonName, buf, sizeof(buf)) > 0)
		match = strcasecmp(buf, cn) == 0;
	/* Also accept a chain that contains a certificate with that subject CN (a cross-signed intermediate). */
	for (int i = 0; !match && i < sk_X509_num(chain); i++)
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, i)), NID_commonName, buf,
					      sizeof(buf)) > 0)
			match = strcasecmp(buf, cn) == 0;
	sk_X509_pop_free(chain, X509_free);
	return match;
}

static int download(struct obtain *ob, const char *url, struct at_http_response *resp)
{
	int rc = acme_post(ob->c, url, NULL, 0, "application/pem-certificate-chain", resp);
	if (rc != 0)
		return rc;
	if (resp->body == NULL || resp->body_len == 0 ||
	    (resp->content_type && strcmp(resp->content_type, "application/pem-certificate-chain") != 0)) {
		at_log_warn("ACME certificate %s: expected application/pem-certificate-chain, got %s", url,
			    resp->content_type ? resp->content_type : "none");
		at_http_response_clear(resp);
		return AT_E_PARSE;
	}
	return 0;
}

static int st_download(struct obtain *ob)
{
	struct at_http_response resp;
	const char *url = acme_json_str(ob->order, "certificate");
	int rc;

	if (url == NULL)
		return AT_E_PARSE;
	ob->cert_url = strdup(url);
	if (ob->cert_url == NULL)
		return AT_E_NOMEM;
	rc = download(ob, url, &resp);
	if (rc != 0)
		return rc;
	const char *pref = ob->o->preferred_chain;
	if (pref && !chain_top_issuer_is(resp.body, resp.body_len, pref)) {
		/* Section 7.4.2: alternate chains come as Link rel="alternate"; take the first that matches. */
		for (size_t i = 0; i < AT_HTTP_MAX_LINKS; i++) {
			char *alt = NULL;
			if (at_http_link(&alt, &resp, "alternate", i) != 0)
				break;
			struct at_http_response aresp;
			int arc = download(ob, alt, &aresp);
			free(alt);
			if (arc != 0)
				continue;
			if (chain_top_issuer_is(aresp.body, aresp.body_len, pref)) {
				at_http_response_clear(&resp);
				resp = aresp;
				break;
			}
			at_http_response_clear(&aresp);
		}
	}
	ob->chain = resp.body;
	ob->chain_len = resp.body_len;
	resp.body = NULL;
	at_http_response_clear(&resp);
	return 0;
}

/*
 * A CA is outside input too: the chain must hold our key and exactly our names, hang together (each certificate
 * signed by the next) and not be expired. A notBefore ahead of our clock is kept, with a warning: CAs backdate
 * notBefore (Let's Encrypt by an hour, step-ca by a minute), so only a host clock behind the CA's sees it, and
 * throwing the certificate away would order the same certificate again and again.
 */
static int check_chain(struct obtain *ob, const char *key_pem, size_t key_len)
{
	struct at_cert_info info;
	memset(&info, 0, sizeof(info));
	int rc = at_chain_check(ob->chain, ob->chain_len, key_pem, key_len, ob->o->names, ob->o->nnames, NULL,
				AT_CHECK_NAMES_EXACT | AT_CHECK_CHAIN_LINKED | AT_CHECK_NOT_EXPIRED, &info);
	if (rc != 0)
		return rc;
	time_t now = time(NULL);
	if (info.not_before > now) {
		long skew;
		if (at_acme_clock_skew(ob->c, &skew) == 0)
			at_log_warn("the certificate for %s is valid only from %ld, %ld s ahead of this host's clock; the "
				    "CA's clock (its Date header) is %+ld s from ours: check this host's time "
				    "synchronisation (the certificate is kept)", ob->o->names[0], (long)info.not_before,
				    (long)(info.not_before - now), skew);
		else
			at_log_warn("the certificate for %s is valid only from %ld, %ld s ahead of this host's clock: "
				    "check this host's time synchronisation (the certificate is kept)", ob->o->names[0],
				    (long)info.not_before, (long)(info.not_before - now));
	}
	at_cert_info_clear(&info);
	return 0;
}

static void obtain_free(struct obtain *ob)
{
	for (size_t i = 0; i < ob->nwork; i++)
		acme_authz_cleanup(&ob->work[i]);
	free(ob->work);
	free(ob->order_url);
	cJSON_Delete(ob->order);
	if (ob->own_key)
		EVP_PKEY_free(ob->key);
	free(ob->cert_url);
	free(ob->chain);
}

static const char *state_name(enum obtain_state st)
{
	switch (st) {
	case OB_RESUME: return "resume order";
	case OB_NEW_ORDER: return "new order";
	case OB_AUTHORIZE: return "authorize";
	case OB_WAIT_READY: return "wait for ready";
	case OB_FINALIZE: return "finalize";
	case OB_WAIT_VALID: return "wait for valid";
	case OB_DOWNLOAD: return "download";
	case OB_CHECK: return "check";
	default: return "done";
	}
}

int at_acme_obtain(struct at_acme *c, const struct at_acme_order_opts *o, struct at_acme_cert *out)
{
	struct obtain ob;
	char *key_pem = NULL;
	size_t key_len = 0;
	enum obtain_state st = o && o->resume_url ? OB_RESUME : OB_NEW_ORDER;
	int rc = 0;

	c->finalized = 0;
	if (o == NULL || o->nnames == 0 || o->nnames > AT_MAX_NAMES || o->nsolvers == 0)
		return AT_E_INVAL;
	rc = acme_directory_load(c);
	if (rc != 0)
		return rc;
	if (c->kid == NULL)
		return AT_E_STATE;
	memset(&ob, 0, sizeof(ob));
	ob.c = c;
	ob.o = o;
	ob.key = o->cert_key;
	if (o->resume_url && o->cert_key == NULL)
		return AT_E_INVAL;
	/* Called at every step, every poll, every slice of a wait and every second of a request (request.c). */
	c->keepalive = o->keepalive;
	c->keepalive_ctx = o->keepalive_ctx;
	at_problem_clear(&c->problem);

	while (rc == 0 && st != OB_DONE) {
		enum obtain_state cur = st;
		rc = acme_keepalive(c);
		if (rc != 0)
			break;
		switch (st) {
		case OB_RESUME:
			rc = st_resume(&ob, &st);
			break;
		case OB_NEW_ORDER:
			rc = st_new_order(&ob);
			st = OB_AUTHORIZE;
			break;
		case OB_AUTHORIZE:
			rc = st_authorize(&ob);
			st = OB_WAIT_READY;
			break;
		case OB_WAIT_READY:
			rc = wait_order(&ob, "ready");
			st = OB_FINALIZE;
			break;
		case OB_FINALIZE:
			rc = st_finalize(&ob);
			st = OB_WAIT_VALID;
			break;
		case OB_WAIT_VALID:
			rc = wait_order(&ob, "valid");
			st = OB_DOWNLOAD;
			break;
		case OB_DOWNLOAD:
			rc = st_download(&ob);
			st = OB_CHECK;
			break;
		case OB_CHECK:
			rc = at_key_to_pem(&key_pem, &key_len, ob.key);
			if (rc == 0)
				rc = check_chain(&ob, key_pem, key_len);
			st = OB_DONE;
			break;
		default:
			rc = AT_E_STATE;
			break;
		}
		if (rc != 0)
			at_log_warn("ACME issuance for %s failed in state \"%s\": %s", o->names[0],
				    state_name(cur), at_strerror(rc));
	}
	if (rc == 0) {
		memset(out, 0, sizeof(*out));
		out->chain_pem = ob.chain;
		out->chain_len = ob.chain_len;
		ob.chain = NULL;
		out->key_pem = key_pem;
		out->key_len = key_len;
		key_pem = NULL;
		out->cert_url = ob.cert_url;
		ob.cert_url = NULL;
		out->replaces_dropped = o->replaces != NULL && c->url_renewal_info != NULL && !ob.send_replaces;
		for (size_t i = 0; i < ob.nwork; i++)
			if (ob.work[i].solver && out->nused < AT_CHALLENGE_COUNT)
				out->used[out->nused++] = ob.work[i].solver->type;
	}
	at_secret_free(key_pem, key_len);
	obtain_free(&ob);
	c->keepalive = NULL;
	c->keepalive_ctx = NULL;
	return rc;
}
