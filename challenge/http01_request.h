/*
 * The HTTP-01 responder's request parser: what to answer to one request head that arrived on the responder's
 * port (from anyone who can reach it, so every byte is hostile). Pure functions over the bytes given: no
 * table, no socket, no allocation, no NUL terminator needed. Fuzzed by tests/fuzz/fuzz_http01_request.c.
 */
#ifndef AUTOTLS_CHALLENGE_HTTP01_REQUEST_H
#define AUTOTLS_CHALLENGE_HTTP01_REQUEST_H

#include "util/err.h"

#include <stddef.h>

#define AT_HTTP01_REQ_MAX 8192   /* a request head longer than this is answered 431 and never buffered on */
#define AT_HTTP01_TOKEN_MAX 256
#define AT_HTTP01_HOST_MAX 260   /* a 253-byte name and ":65535" */
#define AT_HTTP01_PREFIX "/.well-known/acme-challenge/"

enum at_http01_answer {
	AT_HTTP01_KEYAUTH = 1, /* a GET of AT_HTTP01_PREFIX<token>: 200 and the key authorization if the token is
				* pending, else 404 */
	AT_HTTP01_NOT_FOUND,   /* 404 */
	AT_HTTP01_REDIRECT,    /* 301 to location */
};

struct at_http01_request {
	enum at_http01_answer answer;
	const char *token; /* AT_HTTP01_KEYAUTH: into the head, token_len bytes, base64url (at_http01_token_ok) */
	size_t token_len;
	char location[AT_HTTP01_REQ_MAX + 512]; /* AT_HTTP01_REDIRECT: "https://<host without port><target>" */
};

/* 1 when t[0..n) is a plausible ACME token: base64url, 1..AT_HTTP01_TOKEN_MAX characters (so never ".", "/" or
 * ".."), else 0. */
int at_http01_token_ok(const char *t, size_t n);

/*
 * Where the head ends in buf[0..len): 0 and *head_len when it is complete (the first "\r\n\r\n", else the first
 * "\n\n"; the head runs two bytes into it, through the end of its last line), AT_E_NOTFOUND while more must be
 * read.
 */
int at_http01_request_end(const char *buf, size_t len, size_t *head_len) AT_MUST_CHECK;

/*
 * Decides the answer to the request head head[0..len) (RFC 9112: request line, header lines; only the request
 * line and, when redirect is 1, Host are looked at). Returns 0 and fills *out, or AT_E_PARSE when the answer is
 * 400 Bad Request: no "METHOD SP /origin-form SP HTTP/1.x" request line, a target byte outside 0x21..0x7e, or,
 * for a redirect, not exactly one Host (RFC 9112 section 3.2) holding a name of letters, digits, dots and
 * hyphens with at most a port of 1..5 digits (never an IPv6 literal: nothing odd ends up in a Location). A
 * request for the challenge path is never redirected. *out is set only on success; out->token points into head.
 */
int at_http01_request_parse(struct at_http01_request *out, const char *head, size_t len, int redirect)
	AT_MUST_CHECK;

#endif
