/*
 * The harness's HTTP client (see fetch.h). curl_global_init runs once under pthread_once; every handle is made
 * and freed per request, so this is safe from several test threads.
 */
#include "tests/harness/fetch.h"
#include "util/buf.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static int fetch_init_ok;

static void fetch_global_init(void)
{
	fetch_init_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

static size_t fetch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct at_buf *b = userdata;
	size_t n = size * nmemb;
	if (at_buf_append(b, ptr, n) != 0)
		return 0; /* over the cap: curl aborts with CURLE_WRITE_ERROR */
	return n;
}

int harness_fetch(long *status, char **body_out, size_t *body_len, const char *method, const char *url,
		  const char *ca_file, const char *body, long timeout_ms)
{
	CURL *c = NULL;
	struct curl_slist *hdrs = NULL;
	struct at_buf b;
	int ret = -1;

	at_buf_init(&b, HARNESS_FETCH_MAX);
	pthread_once(&fetch_once, fetch_global_init);
	if (!fetch_init_ok)
		goto out;
	c = curl_easy_init();
	if (c == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* loopback only, whatever the environment says */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (ca_file != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	if (strcmp(method, "POST") == 0) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		if (hdrs == NULL)
			goto out;
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	}
	if (curl_easy_perform(c) != CURLE_OK)
		goto out;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (body_len != NULL)
		*body_len = b.len;
	if (body_out != NULL) {
		*body_out = at_buf_steal(&b);
		if (*body_out == NULL)
			*body_out = strdup("");
		if (*body_out == NULL)
			goto out;
	}
	ret = 0;
out:
	at_buf_free(&b);
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	return ret;
}

int harness_fetch_to_file(const char *url, const char *ca_file, const char *path)
{
	char *body = NULL;
	size_t len = 0;
	long status = 0;
	int fd = -1, ret = -1;

	if (harness_fetch(&status, &body, &len, "GET", url, ca_file, NULL, 5000) != 0 || status != 200)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (write(fd, body, len) != (ssize_t)len)
		goto out;
	ret = 0;
out:
	if (fd >= 0 && close(fd) != 0)
		ret = -1;
	free(body);
	return ret;
}
