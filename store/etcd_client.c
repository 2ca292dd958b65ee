/*
 * The etcd JSON gateway client (store/etcd_client.h). Owns one libcurl easy handle per client and the mutex
 * that serialises its use (callers: the etcd store's operations, from any thread; nothing else). It never
 * follows a redirect, caps every response at RESP_MAX, and never logs a request or response body: the store's
 * values hold private keys. Lock order: c->mu is the innermost lock; it is never held across a pause (the
 * pauses between rounds go through at_lockset_pause_ms, which releases the manager's quiesce lock).
 *
 * Failover: a request goes to the member that answered last; a member that does not answer (connection
 * refused, reset, timed out) or says it cannot serve now (HTTP 5xx, or gRPC codes Unavailable, DeadlineExceeded,
 * Aborted: a leader election under way) is left for the next one. After a full round without an answer the
 * client pauses (50 ms doubling to 400 ms) and starts again, until the caller's deadline. A request that may
 * have reached etcd is sent again only when doing it twice is harmless; the callers make theirs so (puts and
 * deletes are idempotent; the lock's transaction recognises its own lease on a second try).
 */
#include "store/etcd_client.h"
#include "store/lock_file.h"
#include "util/b64.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/keys.h"
#include "util/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESP_MAX (8 * 1024 * 1024) /* a range of many keys, values base64 (a value is at most 1 MiB) */
#define CONNECT_MS 700
#define REQUEST_MS 1500

struct at_etcd {
	pthread_mutex_t mu;   /* guards everything below */
	CURL *easy;           /* owned */
	struct at_etcd_url url;
	size_t cur;           /* the member that answered last */
	char *ca, *cert, *key; /* owned copies */
	unsigned long requests;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;

static void curl_init_once(void)
{
	curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

void at_etcd_tls_from_env(struct at_etcd_tls *tls)
{
	const char *ca = secure_getenv("AUTOTLS_ETCD_CA"), *cert = secure_getenv("AUTOTLS_ETCD_CERT"),
		   *key = secure_getenv("AUTOTLS_ETCD_KEY");

	tls->ca = ca && *ca ? ca : NULL;
	tls->cert = cert && *cert ? cert : NULL;
	tls->key = key && *key ? key : NULL;
}

void at_etcd_setopt_common(CURL *easy, const char *url, const struct at_etcd_tls *tls)
{
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_MS);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (tls && tls->ca)
		curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca);
	if (tls && tls->cert)
		curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->cert);
	if (tls && tls->key)
		curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->key);
}

int at_etcd_global_init(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_ok ? 0 : AT_E_NET;
}

int at_etcd_open(struct at_etcd **out, const struct at_etcd_url *u, const struct at_etcd_tls *tls)
{
	struct at_etcd *c;
	int rc;

	if (out == NULL || u == NULL || u->n == 0)
		return AT_E_INVAL;
	rc = at_etcd_global_init();
	if (rc != 0)
		return rc;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return AT_E_NOMEM;
	pthread_mutex_init(&c->mu, NULL);
	c->url = *u;
	if (tls) {
		c->ca = dup_or_null(tls->ca);
		c->cert = dup_or_null(tls->cert);
		c->key = dup_or_null(tls->key);
	}
	c->easy = curl_easy_init();
	if (c->easy == NULL) {
		at_etcd_close(c);
		return AT_E_NOMEM;
	}
	*out = c;
	return 0;
}

void at_etcd_close(struct at_etcd *c)
{
	if (c == NULL)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	free(c->ca);
	free(c->cert);
	free(c->key);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

unsigned long at_etcd_requests(const struct at_etcd *c)
{
	return c ? __atomic_load_n(&c->requests, __ATOMIC_RELAXED) : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct at_buf *b = arg;
	return at_buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* gRPC status codes worth another member or another try: Unavailable, DeadlineExceeded, Aborted, Unknown with
 * etcd's "leader changed" / "timed out" texts (etcd 3.4 maps some of those to 2). */
static int retryable(const cJSON *j, long status)
{
	const cJSON *code = j ? cJSON_GetObjectItemCaseSensitive(j, "code") : NULL;
	const char *msg = j ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error")) : NULL;
	int c = cJSON_IsNumber(code) ? code->valueint : -1;

	if (c == 14 || c == 4 || c == 10)
		return 1;
	if (msg && (strstr(msg, "leader") || strstr(msg, "timed out") || strstr(msg, "unhealthy")))
		return 1;
	return status >= 500 && c < 0;
}

/* One try at member i. 0 with *resp, 1 for "try another member", or a final error. */
static int try_member(struct at_etcd *c, size_t i, const char *path, const char *body, cJSON **resp)
{
	char url[400];
	struct at_buf b;
	long status = 0;
	int rc;
	CURLcode cc;
	const struct at_etcd_tls tls = { c->ca, c->cert, c->key };
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");

	if (hdr == NULL)
		return AT_E_NOMEM;
	at_buf_init(&b, RESP_MAX);
	snprintf(url, sizeof url, "%s%s", c->url.members[i], path);
	curl_easy_reset(c->easy);
	at_etcd_setopt_common(c->easy, url, &tls);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)REQUEST_MS);
	__atomic_add_fetch(&c->requests, 1, __ATOMIC_RELAXED);
	cc = curl_easy_perform(c->easy);
	curl_slist_free_all(hdr);
	if (cc == CURLE_WRITE_ERROR && b.len + 1 >= RESP_MAX) {
		rc = AT_E_TOOBIG;
		goto out;
	}
	if (cc == CURLE_SSL_CACERT || cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CERTPROBLEM) {
		at_log_error("etcd %s: TLS: %s (check AUTOTLS_ETCD_CA, _CERT, _KEY)", c->url.members[i],
			     curl_easy_strerror(cc));
		rc = 1;
		goto out;
	}
	if (cc != CURLE_OK) {
		at_log_debug("etcd %s: %s", c->url.members[i], curl_easy_strerror(cc));
		rc = 1;
		goto out;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	cJSON *j = b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
	if (status == 200 && j != NULL && !cJSON_HasObjectItem(j, "error")) {
		*resp = j;
		rc = 0;
	} else if (retryable(j, status)) {
		at_log_debug("etcd %s%s: HTTP %ld, trying another member", c->url.members[i], path, status);
		cJSON_Delete(j);
		rc = 1;
	} else {
		const char *msg = j ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error")) : NULL;
		const cJSON *code = j ? cJSON_GetObjectItemCaseSensitive(j, "code") : NULL;
		if (cJSON_IsNumber(code) && code->valueint == 5) {
			rc = AT_E_NOTFOUND; /* NotFound: a lease that ended, which the caller expects */
		} else {
			at_log_error("etcd %s%s: HTTP %ld: %.200s", c->url.members[i], path, status,
				     msg ? msg : (j ? "no error text" : "a body that is not JSON"));
			rc = status == 200 ? AT_E_PARSE : AT_E_HTTP;
		}
		cJSON_Delete(j);
	}
out:
	at_buf_free_secret(&b);
	return rc;
}

/* Since when (at_clock_ms) no member has answered a call of this process; 0 while they answer. A host cut off
 * from etcd says so once, not at every call (a follower asks every second or two, for the election and the
 * store), and says when etcd answers again. Process-wide, since a manager holds several clients (the election's,
 * the follower's reader, the engine's). */
static long down_since_ms;

static void note_unreachable(const struct at_etcd *c, const char *path)
{
	long zero = 0, now = at_clock_ms();
	if (__atomic_compare_exchange_n(&down_since_ms, &zero, now > 0 ? now : 1, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		at_log_warn("etcd: no member of %zu answered %s; what this host has stays in service, and etcd is "
			    "asked again (said once until it answers)", c->url.n, path);
	else
		at_log_debug("etcd: no member of %zu answered %s", c->url.n, path);
}

static void note_answered(void)
{
	long since = __atomic_exchange_n(&down_since_ms, 0, __ATOMIC_ACQ_REL);
	if (since != 0)
		at_log_info("etcd answers again (no member answered for %ld ms)", at_clock_ms() - since);
}

int at_etcd_call(struct at_etcd *c, const char *path, const cJSON *req, long deadline_ms, cJSON **resp)
{
	char *body;
	long end = at_clock_ms() + (deadline_ms > 0 ? deadline_ms : 10000);
	long pause = 50;
	int rc = AT_E_NET;

	if (c == NULL || path == NULL || req == NULL || resp == NULL)
		return AT_E_INVAL;
	body = cJSON_PrintUnformatted(req);
	if (body == NULL)
		return AT_E_NOMEM;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		for (size_t k = 0; k < c->url.n; k++) {
			size_t i = (c->cur + k) % c->url.n;
			rc = try_member(c, i, path, body, resp);
			if (rc == 0)
				c->cur = i;
			if (rc != 1)
				break;
		}
		pthread_mutex_unlock(&c->mu);
		if (rc != 1)
			break;
		if (at_clock_ms() + pause >= end) {
			rc = AT_E_NET;
			break;
		}
		at_lockset_pause_ms(pause);
		pause = pause < 400 ? pause * 2 : 400;
	}
	at_secret_free(body, strlen(body));
	if (rc == AT_E_NET)
		note_unreachable(c, path);
	else
		note_answered();
	return rc;
}

void at_etcd_range_end(const char *p, char *out, size_t size)
{
	size_t n = strlen(p);
	snprintf(out, size, "%s", p);
	if (n > 0 && n < size)
		out[n - 1]++;
}

cJSON *at_etcd_b64_item(const void *p, size_t n)
{
	char *s = NULL;
	cJSON *item;

	if (n == 0)
		return cJSON_CreateString("");
	if (at_b64_encode(&s, p, n) != 0)
		return NULL;
	item = cJSON_CreateString(s);
	at_secret_free(s, strlen(s));
	return item;
}

int at_etcd_add_b64(cJSON *obj, const char *name, const void *p, size_t n)
{
	cJSON *item = at_etcd_b64_item(p, n);

	if (item == NULL)
		return AT_E_NOMEM;
	if (!cJSON_AddItemToObject(obj, name, item)) {
		cJSON_Delete(item);
		return AT_E_NOMEM;
	}
	return 0;
}

int at_etcd_get_b64(const cJSON *obj, const char *name, char **out, size_t *len)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
	unsigned char *raw = NULL;
	size_t n = 0;
	char *s;

	if (item != NULL && !cJSON_IsString(item))
		return AT_E_PARSE;
	if (item != NULL && item->valuestring[0] != '\0') {
		int rc = at_b64_decode(&raw, &n, item->valuestring, strlen(item->valuestring));
		if (rc != 0)
			return rc;
	}
	s = malloc(n + 1);
	if (s == NULL) {
		at_secret_free(raw, n);
		return AT_E_NOMEM;
	}
	if (n)
		memcpy(s, raw, n);
	s[n] = '\0';
	at_secret_free(raw, n);
	*out = s;
	*len = n;
	return 0;
}

int at_etcd_get_i64(const cJSON *obj, const char *name, long long *out)
{
	const cJSON *item = obj ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
	char *end = NULL;

	*out = 0;
	if (item == NULL)
		return 0;
	if (cJSON_IsNumber(item)) { /* small numbers may come bare from some gateways */
		*out = (long long)item->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(item) || item->valuestring[0] == '\0')
		return AT_E_PARSE;
	*out = strtoll(item->valuestring, &end, 10);
	return *end == '\0' ? 0 : AT_E_PARSE;
}
