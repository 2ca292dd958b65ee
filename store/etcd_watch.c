/*
 * The watch (store/etcd_watch.h). Owns one thread and its libcurl handle: a POST to /v3/watch whose answer the
 * gateway never ends, one JSON object a line ({"result":{"created":true}}, then {"result":{"events":[...]}}).
 * Who calls it: the manager process's fleet watches (shim/manager/fleet_watch.c: two prefixes, and the fleet
 * lock's key, deletes only), once each. What it must never do:
 * log a line of the stream (events carry the values, sealed or not: key material); take a lock of anyone
 * else's. Lock order: none (the counters are atomics; the stop flag is read by libcurl's progress callback).
 *
 * Failover: when the stream ends or cannot be opened (a member killed, refused, restarted), the next member is
 * tried after a pause (100 ms, doubling to 1 s); each new stream counts as a change, since what happened while
 * none was open is not replayed (no start revision is asked for: the caller reads the store again instead).
 * A member that hangs without closing the connection is found by TCP keepalive (2 s idle, 1 s probes).
 */
#include "store/etcd_watch.h"
#include "store/etcd_client.h"
#include "util/clock.h"
#include "util/log.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE_MAX_BYTES (4 * 1024 * 1024) /* an event line holds a value (at most 1 MiB) in base64, and its key */

struct at_etcd_watch {
	pthread_t thread;
	struct at_etcd_url url;
	char *body;                 /* the create_request, owned */
	char *ca, *cert, *key;      /* owned copies of the caller's TLS files */
	unsigned long seq;          /* atomic */
	int up;                     /* atomic */
	int stop;                   /* atomic */
	/* the current stream's unfinished line (the thread's alone) */
	char *line;
	size_t len, cap;
};

/* 0, or -1 when s was set and there was no memory for its copy. */
static int dup_opt(char **out, const char *s)
{
	*out = s && *s ? strdup(s) : NULL;
	return s && *s && *out == NULL ? -1 : 0;
}

static void drop_line(struct at_etcd_watch *w)
{
	if (w->line)
		OPENSSL_cleanse(w->line, w->cap);
	free(w->line);
	w->line = NULL;
	w->len = w->cap = 0;
}

/* Whether the n bytes at p hold s. */
static bool has(const char *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

/* One whole line of the stream: counts it when it creates the watch or carries events. Matched as bytes, not
 * parsed: its values are base64 (up to MBs, key material in an unsealed store) and a parser's copies would be
 * freed uncleansed. The gateway writes compact JSON; base64 has no '"', and inside a JSON string a '"' comes
 * escaped, so these quoted names can only be the fields themselves. */
static void on_line(struct at_etcd_watch *w, const char *p, size_t n)
{
	static const char ev[] = "\"events\":[";
	const char *e;

	if (!has(p, n, "\"result\":{"))
		return;
	if (has(p, n, "\"created\":true")) {
		__atomic_store_n(&w->up, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&w->seq, 1, __ATOMIC_RELEASE);
		at_log_debug("etcd watch up");
	} else if ((e = memmem(p, n, ev, sizeof ev - 1)) != NULL && (size_t)(e - p) + sizeof ev - 1 < n &&
		   e[sizeof ev - 1] != ']') { /* an empty list is no change */
		__atomic_add_fetch(&w->seq, 1, __ATOMIC_RELEASE);
	} else if (has(p, n, "\"canceled\":true")) {
		__atomic_store_n(&w->up, 0, __ATOMIC_RELEASE);
	}
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct at_etcd_watch *w = arg;
	size_t total = size * n;
	if (w->len + total + 1 > LINE_MAX_BYTES)
		return 0; /* ends this stream; the next one starts clean */
	if (w->len + total + 1 > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		while (cap < w->len + total + 1)
			cap *= 2;
		char *nl = malloc(cap);
		if (nl == NULL)
			return 0;
		if (w->line) {
			memcpy(nl, w->line, w->len);
			OPENSSL_cleanse(w->line, w->cap);
			free(w->line);
		}
		w->line = nl;
		w->cap = cap;
	}
	memcpy(w->line + w->len, p, total);
	/* The bytes kept from before hold no newline (their lines went out): only the new ones are searched. */
	size_t start = 0, from = w->len;
	w->len += total;
	for (const char *nl; from < w->len && (nl = memchr(w->line + from, '\n', w->len - from)) != NULL;) {
		size_t i = (size_t)(nl - w->line);
		if (i > start)
			on_line(w, w->line + start, i - start);
		start = from = i + 1;
	}
	if (start > 0) {
		memmove(w->line, w->line + start, w->len - start);
		OPENSSL_cleanse(w->line + (w->len - start), start);
		w->len -= start;
	}
	return total;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	struct at_etcd_watch *w = arg;
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) ? 1 : 0;
}

static void pause_ms(struct at_etcd_watch *w, long ms)
{
	for (long t = 0; t < ms && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE); t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void *watch_main(void *arg)
{
	struct at_etcd_watch *w = arg;
	CURL *easy = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	size_t cur = 0;
	long pause = 100;
	const struct at_etcd_tls tls = { w->ca, w->cert, w->key };

	while (easy && hdr && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		char url[400];
		snprintf(url, sizeof url, "%s/v3/watch", w->url.members[cur]);
		curl_easy_reset(easy);
		at_etcd_setopt_common(easy, url, &tls);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, w->body);
		curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(easy, CURLOPT_WRITEDATA, w);
		curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(easy, CURLOPT_XFERINFODATA, w);
		curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
		curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 2L);
		curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 1L);
		int64_t t0 = at_clock_ms();
		CURLcode cc = curl_easy_perform(easy);
		int was_up = __atomic_exchange_n(&w->up, 0, __ATOMIC_ACQ_REL);
		drop_line(w);
		if (__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
			break;
		/* One line per ended try: info when a stream that was up ended, debug for a member that never
		 * answered (those repeat every second while a member is down). */
		if (was_up)
			at_log_info("etcd watch at %s ended (%s); trying the next member", w->url.members[cur],
				    curl_easy_strerror(cc));
		else
			at_log_debug("etcd watch at %s: %s", w->url.members[cur], curl_easy_strerror(cc));
		cur = (cur + 1) % w->url.n;
		/* A stream that lived a while ends a quiet spell: the next try is at once, the pauses start again. */
		if (was_up && at_clock_ms() - t0 > 5000)
			pause = 100;
		pause_ms(w, pause);
		pause = pause < 500 ? pause * 2 : 1000;
	}
	curl_slist_free_all(hdr);
	if (easy)
		curl_easy_cleanup(easy);
	return NULL;
}

/* Starts the thread on <PREFIX>/<rel>: every key below it when prefix, else that one key; deletes only when
 * deletes_only (etcd's NOPUT filter: the stream then carries no puts at all). */
static int watch_start(struct at_etcd_watch **out, const struct at_etcd_url *u, const struct at_etcd_tls *tls,
		       const char *rel, bool prefix, bool deletes_only)
{
	struct at_etcd_watch *w;
	char key[AT_ETCD_PREFIX_MAX + 300], end[sizeof key];
	int rc;

	if (out == NULL || u == NULL || u->n == 0 || rel == NULL || strlen(rel) > 250)
		return AT_E_INVAL;
	/* Here, not on the thread: libcurl's global init must not race the manager thread's at_etcd_open. */
	rc = at_etcd_global_init();
	if (rc != 0)
		return rc;
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return AT_E_NOMEM;
	w->url = *u;
	snprintf(key, sizeof key, "%s/%s", w->url.prefix, rel);
	at_etcd_range_end(key, end, sizeof end);
	rc = AT_E_NOMEM;
	cJSON *req = cJSON_CreateObject(), *cr = cJSON_AddObjectToObject(req, "create_request"), *f = NULL;
	if (cr && at_etcd_add_b64(cr, "key", key, strlen(key)) == 0 &&
	    (!prefix || at_etcd_add_b64(cr, "range_end", end, strlen(end)) == 0) &&
	    (!deletes_only || ((f = cJSON_AddArrayToObject(cr, "filters")) != NULL &&
			       cJSON_AddItemToArray(f, cJSON_CreateString("NOPUT")))))
		w->body = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (w->body == NULL)
		goto fail;
	if (tls && (dup_opt(&w->ca, tls->ca) || dup_opt(&w->cert, tls->cert) || dup_opt(&w->key, tls->key)))
		goto fail;
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
		rc = AT_E_IO;
		goto fail;
	}
	*out = w;
	return 0;
fail:
	free(w->body);
	free(w->ca);
	free(w->cert);
	free(w->key);
	free(w);
	return rc;
}

int at_etcd_watch_start(struct at_etcd_watch **out, const struct at_etcd_url *u, const struct at_etcd_tls *tls,
			const char *below)
{
	return watch_start(out, u, tls, below, true, false);
}

int at_etcd_watch_lock_start(struct at_etcd_watch **out, const struct at_etcd_url *u,
			     const struct at_etcd_tls *tls, const char *name)
{
	char rel[128];

	/* store_etcd.c keeps lock n at <PREFIX>/.locks/n (its header comment). */
	if (name == NULL || !*name || strchr(name, '/') != NULL ||
	    (size_t)snprintf(rel, sizeof rel, ".locks/%s", name) >= sizeof rel)
		return AT_E_INVAL;
	return watch_start(out, u, tls, rel, false, true);
}

unsigned long at_etcd_watch_seq(const struct at_etcd_watch *w)
{
	return w ? __atomic_load_n(&w->seq, __ATOMIC_ACQUIRE) : 0;
}

bool at_etcd_watch_up(const struct at_etcd_watch *w)
{
	return w && __atomic_load_n(&w->up, __ATOMIC_ACQUIRE);
}

void at_etcd_watch_stop(struct at_etcd_watch *w)
{
	if (w == NULL)
		return;
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_join(w->thread, NULL);
	drop_line(w);
	free(w->body);
	free(w->ca);
	free(w->cert);
	free(w->key);
	free(w);
}
