/*
 * A small libcurl client for the test harness: GET or POST one URL on loopback, with an optional CA file to trust,
 * proxies disabled, short timeouts and a capped body (1 MiB). Used to poll Pebble's directory, fetch its roots
 * and talk to pebble-challtestsrv's management API. Not for library code (that goes through acme/http.h).
 */
#ifndef AUTOTLS_TESTS_HARNESS_FETCH_H
#define AUTOTLS_TESTS_HARNESS_FETCH_H

#include <stddef.h>

#define HARNESS_FETCH_MAX (1024 * 1024)

/*
 * Performs one request. method is "GET" or "POST"; body (POST only, may be NULL) is sent as application/json.
 * ca_file: PEM to trust for https (NULL: none given, http only in practice). On success returns 0, sets *status
 * and, when body_out is not NULL, a new NUL-terminated body the caller frees (and *body_len if not NULL).
 * Returns -1 when the request did not complete (connection refused, timeout, body over the cap).
 */
int harness_fetch(long *status, char **body_out, size_t *body_len, const char *method, const char *url,
		  const char *ca_file, const char *body, long timeout_ms);

/* GET url and write the body to path (only on HTTP 200). 0 or -1. */
int harness_fetch_to_file(const char *url, const char *ca_file, const char *path);

#endif
