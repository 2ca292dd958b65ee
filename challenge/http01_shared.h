/*
 * What the HTTP-01 files in challenge/ share (see http01.h): the table of pending tokens (http01.c), the two
 * modes' present() and cleanup(), and each part's reset in a forked child. Not for callers outside challenge/.
 */
#ifndef AUTOTLS_CHALLENGE_HTTP01_SHARED_H
#define AUTOTLS_CHALLENGE_HTTP01_SHARED_H

#include "util/err.h"

#include <stddef.h>

struct at_challenge;

#define AT_HTTP01_KEYAUTH_MAX 512

/* 0 when ch is an HTTP-01 challenge with a base64url token and a key authorization "<token>.<thumbprint>"
 * (RFC 8555 section 8.1), else AT_E_INVAL (a hostile one is logged). */
int at_http01_challenge_ok(const struct at_challenge *ch) AT_MUST_CHECK;

/* The pending tokens, under a mutex of their own (the responder thread reads them). Add returns 0 or AT_E_RANGE
 * (64 pending); remove sets *left to how many stay pending; lookup copies token[0..n)'s key authorization into
 * out (AT_HTTP01_KEYAUTH_MAX + 1 bytes) and returns 0, or AT_E_NOTFOUND. */
int at_http01_table_add(const char *token, const char *keyauth) AT_MUST_CHECK;
void at_http01_table_remove(const char *token, size_t *left);
int at_http01_table_lookup(char *out, const char *token, size_t n) AT_MUST_CHECK;

/* The built-in responder (http01_responder.c). ctx is the struct at_http01_config. */
int at_http01_responder_present(void *ctx, const struct at_challenge *ch);
void at_http01_responder_cleanup(void *ctx, const struct at_challenge *ch);
/* 0 when the responder runs or this user may bind port now (in use is fine), else AT_E_PERM or AT_E_NET. */
int at_http01_responder_probe(int port) AT_MUST_CHECK;
/* 1 while the responder runs. */
int at_http01_responder_running(void);

/* Webroot mode (http01_webroot.c). ctx is the struct at_http01_config. */
int at_http01_webroot_present(void *ctx, const struct at_challenge *ch);
void at_http01_webroot_cleanup(void *ctx, const struct at_challenge *ch);

/* In a forked child only (pthread_atfork, registered by http01.c): forget what belongs to the parent. */
void at_http01_responder_fork_child(void);
void at_http01_webroot_fork_child(void);

#endif
