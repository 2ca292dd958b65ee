/*
 * The HTTP seam (STYLE.md "HTTP behind a small seam"). The ACME logic above it owns every retry policy
 * (badNonce, Retry-After, rateLimited); an implementation only moves one request and one response, with a
 * timeout, a cap on the body and no redirects. libcurl is the real implementation (http_curl.c); unit tests
 * script responses through the same struct.
 */
#ifndef AUTOTLS_ACME_HTTP_H
#define AUTOTLS_ACME_HTTP_H

#include "util/err.h"

#include <stddef.h>

#define AT_HTTP_MAX_BODY (1024 * 1024) /* a chain is the largest thing a CA sends us */
#define AT_HTTP_MAX_LINKS 8

struct at_http_request {
	const char *method;       /* "GET", "HEAD" or "POST" */
	const char *url;
	const char *content_type; /* POST only */
	const char *body;
	size_t body_len;
	long timeout_ms;          /* whole request */
	size_t max_body;          /* cap; 0 means AT_HTTP_MAX_BODY */
	/* Called about once a second while the request waits for the network, on the caller's thread (NULL: not
	 * at all): an issuance's lock lease is kept alive through one slow request (a finalize the CA takes 10 s
	 * over) as it is between requests. Its result is not looked at here: the caller's next step is. */
	int (*during)(void *ctx);
	void *during_ctx;
};

struct at_http_response {
	long status;
	char *body;                 /* owned, NUL-terminated, may be NULL */
	size_t body_len;
	char *content_type;         /* owned, may be NULL; parameters stripped, lowercase */
	char *location;             /* owned, may be NULL */
	char *replay_nonce;         /* owned, may be NULL */
	char *retry_after;          /* owned, may be NULL: the raw header value */
	char *date;                 /* owned, may be NULL: the raw Date header (the CA's clock, RFC 9110 6.6.1) */
	char *links[AT_HTTP_MAX_LINKS]; /* owned: each raw Link header value, in order */
	size_t nlinks;
};

struct at_http_ops {
	/* Fills *resp (which the caller clears with at_http_response_clear). Returns 0 when a response arrived,
	 * whatever its status; AT_E_NET, AT_E_TIMEOUT, AT_E_TOOBIG otherwise. */
	int (*perform)(void *ctx, const struct at_http_request *req, struct at_http_response *resp);
	void (*cleanup)(void *ctx);
	void *ctx;
};

void at_http_response_clear(struct at_http_response *resp);

/*
 * The libcurl implementation: one handle kept for connection reuse (keep-alive saves a TLS handshake per
 * request), TLS verified against the system roots plus ca_file when not NULL, no redirects, HTTP/1.1.
 * Returns 0, AT_E_NOMEM or AT_E_UNSUPPORTED (a libcurl built without thread safety).
 */
int at_http_curl_new(struct at_http_ops *out, const char *ca_file, const char *user_agent)
	AT_MUST_CHECK;

/* Hooks called around every wait for the network inside the libcurl implementation (the shim's manager
 * releases its fork-quiesce lock there). Set once, before any transfer. */
void at_http_set_wait_hooks(void (*begin)(void), void (*end)(void));

/* Sleeps ms milliseconds between the wait hooks (the ACME client's polling and Retry-After pauses). */
void at_http_pause_ms(long ms);

/* Parses Retry-After (RFC 9110 section 10.2.3: delay-seconds or an HTTP-date) into seconds from now, >= 0.
 * Returns 0 or AT_E_PARSE. */
int at_http_retry_after(long *seconds, const char *value, long now) AT_MUST_CHECK;

/* Parses an HTTP-date (RFC 9110 section 5.6.7, IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT") into unix
 * seconds. Returns 0 or AT_E_PARSE. */
int at_http_date(long long *out, const char *value) AT_MUST_CHECK;

/* Finds the URL of the first Link with rel="<rel>" in the response's Link headers (RFC 8288). *out new, caller
 * frees; AT_E_NOTFOUND when none. idx selects the idx-th match (for rel="alternate"). */
int at_http_link(char **out, const struct at_http_response *resp, const char *rel, size_t idx)
	AT_MUST_CHECK;

#endif
