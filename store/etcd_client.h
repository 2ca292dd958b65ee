/*
 * A client of etcd v3's JSON gateway (POST /v3/<service>/<method>, bodies in JSON, keys and values in base64,
 * 64-bit numbers as strings), with failover between the cluster's members. See store/etcd_client.c.
 */
#ifndef AUTOTLS_STORE_ETCD_CLIENT_H
#define AUTOTLS_STORE_ETCD_CLIENT_H

#include "store/etcd_url.h"
#include "util/err.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <stddef.h>

struct at_etcd;

struct at_etcd_tls {
	const char *ca;   /* AUTOTLS_ETCD_CA: the CA that signed the members' certificates; NULL: the system's */
	const char *cert; /* AUTOTLS_ETCD_CERT and _KEY: a client certificate, when etcd asks for one; NULL: none */
	const char *key;
};

/* libcurl's global init, once per process (pthread_once). Every user of libcurl here calls it before its first
 * curl_easy_init, on its own thread or not: curl_global_init is not thread-safe against a curl_easy_init that
 * runs it implicitly. 0 or AT_E_NET. */
int at_etcd_global_init(void) AT_MUST_CHECK;

/* The TLS files of the etcd store, from AUTOTLS_ETCD_CA, _CERT, _KEY (pointers into the environment, unset or
 * empty: NULL). The store and the fleet's watch both take them from here. */
void at_etcd_tls_from_env(struct at_etcd_tls *tls);

/* Sets on easy (just reset) what every connection to a member shares, the client's requests and the watch's
 * stream alike: the URL, the connect timeout, no signals, no redirects, http(s) only, and tls's files. */
void at_etcd_setopt_common(CURL *easy, const char *url, const struct at_etcd_tls *tls);

/* A client for the members of u. Nothing is sent yet. *out new, freed with at_etcd_close. */
int at_etcd_open(struct at_etcd **out, const struct at_etcd_url *u, const struct at_etcd_tls *tls) AT_MUST_CHECK;
void at_etcd_close(struct at_etcd *c);

/* POSTs req (borrowed) to path ("/v3/kv/range") at the member that answered last, moving to the next one when a
 * member does not answer or says it cannot serve (no leader, unavailable), for up to deadline_ms in all. *resp
 * new (cJSON_Delete). Returns 0, AT_E_NET (no member answered), AT_E_NOTFOUND (gRPC NotFound: a lease that
 * ended), AT_E_HTTP (another refusal: the reason logged), AT_E_TOOBIG, AT_E_PARSE, AT_E_NOMEM. Thread-safe. */
int at_etcd_call(struct at_etcd *c, const char *path, const cJSON *req, long deadline_ms, cJSON **resp)
	AT_MUST_CHECK;

/* How many requests this client has sent (every try counts), for the bench and the tests. */
unsigned long at_etcd_requests(const struct at_etcd *c);

/* The end of the range of every key starting with p into out (etcd's prefix convention: the last byte plus one;
 * "fleet/certificates/" ends at "fleet/certificates0"). */
void at_etcd_range_end(const char *p, char *out, size_t size);
/* Base64 of n bytes as a new cJSON string item; NULL on no memory. */
cJSON *at_etcd_b64_item(const void *p, size_t n);
/* Adds base64 of n bytes to obj under name. 0 or AT_E_NOMEM. */
int at_etcd_add_b64(cJSON *obj, const char *name, const void *p, size_t n) AT_MUST_CHECK;
/* Decodes obj[name] (base64; absent counts as empty, as etcd leaves empty values out). *out new and
 * NUL-terminated (caller frees with at_secret_free(*out, *len)). 0, AT_E_PARSE or AT_E_NOMEM. */
int at_etcd_get_b64(const cJSON *obj, const char *name, char **out, size_t *len) AT_MUST_CHECK;
/* obj[name] as a signed 64-bit number (the gateway writes them as strings); absent is 0. 0 or AT_E_PARSE. */
int at_etcd_get_i64(const cJSON *obj, const char *name, long long *out) AT_MUST_CHECK;

#endif
