/*
 * The libcurl implementation of the HTTP seam. One easy handle is kept for the life of the client so that
 * requests to the CA reuse one TLS connection (a fresh handshake per request is most of what a slow client
 * spends on loopback). No redirects are followed (a CA has no reason to redirect us, and following one to
 * another host is how a hostile CA would make us fetch what it likes); every response body is capped.
 */
#include "acme/http.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/clock.h"
#include "util/wait_hooks.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The file VERSION, passed by the Makefile: one version number for the whole tree. */
#ifndef AT_VERSION
#error "AT_VERSION is not defined: build with the Makefile (it passes the file VERSION)"
#endif

struct curl_ctx {
	CURLM *multi;     /* owned: drives easy so that waits happen outside the quiesce lock */
	CURL *easy;       /* owned */
	char *ca_file;    /* owned */
	char *user_agent; /* owned */
};

struct recv_state {
	struct at_buf body;
	struct at_http_response *resp;
	int too_big;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_ok;
static struct at_wait_hooks wait_hooks;

void at_http_set_wait_hooks(void (*begin)(void), void (*end)(void))
{
	wait_hooks.begin = begin;
	wait_hooks.end = end;
}

void at_http_pause_ms(long ms)
{
	at_wait_hooks_sleep_ms(&wait_hooks, ms);
}

/*
 * One transfer through the multi interface: curl_multi_perform (CPU: TLS, parsing) runs under the caller's
 * quiesce lock; the wait for the network (curl_multi_poll) runs with it released, so a host that forks never
 * waits for a slow CA, and never forks while a transfer is inside OpenSSL.
 */
#define DURING_EVERY_MS 1000 /* how often a waiting request calls its during hook (http.h) */

static CURLcode transfer(struct curl_ctx *ctx, const struct at_http_request *req)
{
	CURLcode result = CURLE_OK;
	int running = 1;
	long long during_at = at_clock_ms() + DURING_EVERY_MS;
	if (curl_multi_add_handle(ctx->multi, ctx->easy) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running) {
		if (curl_multi_perform(ctx->multi, &running) != CURLM_OK) {
			result = CURLE_FAILED_INIT;
			break;
		}
		if (!running)
			break;
		at_wait_hooks_begin(&wait_hooks);
		CURLMcode pm = curl_multi_poll(ctx->multi, NULL, 0, 200, NULL);
		at_wait_hooks_end(&wait_hooks);
		if (pm != CURLM_OK) {
			result = CURLE_FAILED_INIT;
			break;
		}
		/* Outside libcurl's calls (between a poll and the next perform), under the caller's quiesce lock as
		 * between requests: the hook may make requests of its own through other handles (etcd's). */
		if (req->during != NULL && at_clock_ms() >= during_at) {
			(void)req->during(req->during_ctx);
			during_at = at_clock_ms() + DURING_EVERY_MS;
		}
	}
	int left;
	CURLMsg *m;
	while ((m = curl_multi_info_read(ctx->multi, &left)) != NULL)
		if (m->msg == CURLMSG_DONE && m->easy_handle == ctx->easy)
			result = m->data.result;
	curl_multi_remove_handle(ctx->multi, ctx->easy);
	return result;
}

static void global_init(void)
{
	/* curl_global_init is not thread-safe before 7.84; calling it once under pthread_once is. */
	global_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct recv_state *st = userdata;
	size_t n = size * nmemb;
	if (at_buf_append(&st->body, ptr, n) != 0) {
		st->too_big = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	return n;
}

static char *dup_trimmed(const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, v, n);
		s[n] = '\0';
	}
	return s;
}

static void set_once(char **slot, const char *v, size_t n)
{
	/* A header may appear in each response of a redirect-less exchange only once that matters; keep the
	 * last, which is the final response's. */
	char *s = dup_trimmed(v, n);
	if (s) {
		free(*slot);
		*slot = s;
	}
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct recv_state *st = userdata;
	size_t n = size * nitems;
	const char *colon = memchr(buf, ':', n);
	if (colon == NULL)
		return n;
	size_t name_len = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vlen = n - name_len - 1;
	struct at_http_response *r = st->resp;

	if (name_len == 12 && strncasecmp(buf, "Replay-Nonce", 12) == 0) {
		set_once(&r->replay_nonce, v, vlen);
	} else if (name_len == 8 && strncasecmp(buf, "Location", 8) == 0) {
		set_once(&r->location, v, vlen);
	} else if (name_len == 11 && strncasecmp(buf, "Retry-After", 11) == 0) {
		set_once(&r->retry_after, v, vlen);
	} else if (name_len == 4 && strncasecmp(buf, "Date", 4) == 0) {
		set_once(&r->date, v, vlen);
	} else if (name_len == 12 && strncasecmp(buf, "Content-Type", 12) == 0) {
		char *ct = dup_trimmed(v, vlen);
		if (ct) {
			char *semi = strchr(ct, ';');
			if (semi)
				*semi = '\0';
			for (char *p = ct; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			size_t l = strlen(ct);
			while (l > 0 && ct[l - 1] == ' ')
				ct[--l] = '\0';
			free(r->content_type);
			r->content_type = ct;
		}
	} else if (name_len == 4 && strncasecmp(buf, "Link", 4) == 0 && r->nlinks < AT_HTTP_MAX_LINKS) {
		char *l = dup_trimmed(v, vlen);
		if (l)
			r->links[r->nlinks++] = l;
	}
	return n;
}

static int curl_perform(void *vctx, const struct at_http_request *req, struct at_http_response *resp)
{
	struct curl_ctx *ctx = vctx;
	CURL *e = ctx->easy;
	struct curl_slist *hdrs = NULL;
	struct recv_state st;
	int rc = AT_E_NET;

	memset(resp, 0, sizeof(*resp));
	at_buf_init(&st.body, req->max_body ? req->max_body : AT_HTTP_MAX_BODY);
	st.resp = resp;
	st.too_big = 0;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 15000L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms > 0 && req->timeout_ms < 10000 ?
			 req->timeout_ms : 10000L);
	/* A slow-drip server cannot hold us past the timeout, and one that stalls gets dropped sooner. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 10L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)st.body.max);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &st);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, &st);
	curl_easy_setopt(e, CURLOPT_USERAGENT, ctx->user_agent);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ctx->ca_file) {
		/* CAINFO replaces the default bundle; CAPATH keeps the system roots trusted beside it. */
		curl_easy_setopt(e, CURLOPT_CAINFO, ctx->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
	}
	if (strcmp(req->method, "POST") == 0) {
		char ct[128];
		snprintf(ct, sizeof(ct), "Content-Type: %s", req->content_type ? req->content_type : "application/jose+json");
		hdrs = curl_slist_append(hdrs, ct);
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	}
	/* Expect: 100-continue costs a round trip for nothing on small ACME bodies. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);

	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode cr = transfer(ctx, req);
	if (cr != CURLE_OK)
		at_log_debug("HTTP %s %s: %s", req->method, req->url, errbuf[0] ? errbuf : curl_easy_strerror(cr));
	if (cr == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
		resp->body_len = st.body.len;
		resp->body = at_buf_steal(&st.body);
		rc = 0;
	} else if (st.too_big || cr == CURLE_FILESIZE_EXCEEDED) {
		rc = AT_E_TOOBIG;
	} else if (cr == CURLE_OPERATION_TIMEDOUT) {
		rc = AT_E_TIMEOUT;
	} else if (cr == CURLE_OUT_OF_MEMORY) {
		rc = AT_E_NOMEM;
	}
	if (rc != 0)
		at_http_response_clear(resp);
	at_buf_free(&st.body);
	curl_slist_free_all(hdrs);
	return rc;
}

static void curl_cleanup(void *vctx)
{
	struct curl_ctx *ctx = vctx;
	if (ctx == NULL)
		return;
	curl_easy_cleanup(ctx->easy);
	curl_multi_cleanup(ctx->multi);
	free(ctx->ca_file);
	free(ctx->user_agent);
	free(ctx);
}

int at_http_curl_new(struct at_http_ops *out, const char *ca_file, const char *user_agent)
{
	pthread_once(&global_once, global_init);
	if (!global_ok)
		return AT_E_UNSUPPORTED;
	/* The manager runs beside server threads: a libcurl without thread-safe init is not one we can use. */
	if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_THREADSAFE))
		return AT_E_UNSUPPORTED;

	struct curl_ctx *ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return AT_E_NOMEM;
	ctx->easy = curl_easy_init();
	ctx->multi = curl_multi_init();
	ctx->user_agent = strdup(user_agent ? user_agent : "libautotls/" AT_VERSION);
	ctx->ca_file = ca_file ? strdup(ca_file) : NULL;
	if (ctx->easy == NULL || ctx->multi == NULL || ctx->user_agent == NULL || (ca_file && ctx->ca_file == NULL)) {
		curl_cleanup(ctx);
		return AT_E_NOMEM;
	}
	out->perform = curl_perform;
	out->cleanup = curl_cleanup;
	out->ctx = ctx;
	return 0;
}
