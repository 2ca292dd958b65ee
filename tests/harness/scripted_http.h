/*
 * A scripted HTTP seam (acme/http.h) for unit tests: each step names the request it expects (method and exact
 * URL, optionally what the decoded JWS payload must and must not contain) and the response to give; HEAD on
 * <ca>/nonce is always answered with a fresh nonce. A request out of script answers 500 and sets off_script.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SCRIPTED_HTTP_H
#define AUTOTLS_TESTS_HARNESS_SCRIPTED_HTTP_H

#include "acme/http.h"

#include <stddef.h>

struct step {
	const char *method;
	const char *url;          /* exact */
	long status;
	const char *ctype;
	const char *body;         /* "@CHAIN" is replaced by the script's chain */
	const char *location;
	const char *retry_after;
	const char *link;
	const char *payload_has;  /* the decoded JWS payload must contain this */
	const char *payload_lacks;/* ... and must not contain this */
	const char *date;         /* the Date header, NULL: none */
};

struct script {
	const struct step *steps;
	size_t n, pos;
	int nonce;
	int off_script;
	const char *chain;
	const char *nonce_url;    /* HEAD here gets a nonce; NULL: any URL ending in "/nonce" */
};

/* The at_http_ops perform function; ctx is a struct script. */
int scripted_perform(void *ctx, const struct at_http_request *req, struct at_http_response *resp);

#endif
