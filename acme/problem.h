/*
 * ACME problem documents (RFC 8555 section 6.7, RFC 7807): type, detail, HTTP status and subproblems
 * (section 6.7.1), mapped to an error code from util/err.h so callers can branch without string compares.
 */
#ifndef AUTOTLS_ACME_PROBLEM_H
#define AUTOTLS_ACME_PROBLEM_H

#include "util/err.h"

#include <stddef.h>

#define AT_PROBLEM_MAX_SUB 8

struct at_subproblem {
	char *type;       /* owned */
	char *detail;     /* owned */
	char *identifier; /* owned: the identifier value, may be NULL */
};

struct at_problem {
	char *type;       /* owned, e.g. "urn:ietf:params:acme:error:badNonce"; NULL when cleared */
	char *detail;     /* owned, may be NULL */
	long status;      /* HTTP status of the response, 0 when unknown */
	long retry_after; /* seconds, -1 when absent */
	struct at_subproblem sub[AT_PROBLEM_MAX_SUB];
	size_t nsub;
};

/* Parses a problem document. Returns 0 or AT_E_PARSE; p is cleared first. */
int at_problem_parse(struct at_problem *p, const char *json, size_t len) AT_MUST_CHECK;

/* The error code for a problem type (AT_E_BADNONCE, AT_E_RATELIMITED, ..., AT_E_ACME for others). */
int at_problem_code(const struct at_problem *p);

/* The type without the "urn:ietf:params:acme:error:" prefix; "" when none. Borrowed. */
const char *at_problem_short_type(const struct at_problem *p);

void at_problem_clear(struct at_problem *p);

/* Moves src into dst (dst cleared first, src left empty). */
void at_problem_move(struct at_problem *dst, struct at_problem *src);

#endif
