/*
 * The scripted CA's ACME extensions (see hostile_acme.h): ARI, profiles, new-order faults, the leaves' lifetime.
 *
 * What it owns: its settings and records, under its own mutex (taken alone: never while the server's lock is
 * held, and the server never calls in with it held). Who calls it: the server's connection threads through
 * hostile_acme_internal.h, and the test's thread through hostile_acme.h. It never blocks: every answer is made
 * from memory.
 *
 * The certID (RFC 9773 section 4.1) is computed here from the leaf as signed, independently of acme/ari.c, so a
 * test comparing the client's "replaces" with the CA's record checks the client, not the same code twice.
 */
#include "tests/harness/hostile_acme.h"
#include "tests/harness/hostile_acme_internal.h"
#include "util/b64.h"

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct issued {
	char id[200];
	char serial[80];
	time_t nb, na;
	int start_pct, end_pct; /* the window, as set when it was issued */
	int moved;          /* the window moved into the past */
};

struct hostile_acme {
	pthread_mutex_t lock;
	int ari;
	long ari_retry_after;
	int refuse_replaces;
	char profiles[200];
	enum hostile_order_fault fault;
	long fault_retry_after;
	long validity_s;
	int start_pct, end_pct;   /* 0: the default window */
	time_t moved_at;
	struct issued certs[HOSTILE_ACME_CERTS];
	struct hostile_acme_state st;
};

struct hostile_acme *hostile_acme_new(void)
{
	struct hostile_acme *a = calloc(1, sizeof(*a));
	if (a != NULL)
		pthread_mutex_init(&a->lock, NULL);
	return a;
}

void hostile_acme_free(struct hostile_acme *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rfc3339(char *out, size_t size, time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the server's side ---- */

void hostile_acme_directory(struct hostile_acme *a, const char *base, char *out, size_t size)
{
	char extra[600] = "";
	size_t o = 0;
	pthread_mutex_lock(&a->lock);
	if (a->ari)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, ",\"renewalInfo\":\"%s/renewalInfo\"", base);
	if (a->profiles[0] != '\0' && o < sizeof(extra)) {
		/* meta.profiles: an object, each name with a description. */
		char names[200];
		snprintf(names, sizeof(names), "%s", a->profiles);
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, ",\"meta\":{\"profiles\":{");
		int first = 1;
		for (char *save = NULL, *n = strtok_r(names, ",", &save); n && o < sizeof(extra);
		     n = strtok_r(NULL, ",", &save), first = 0)
			o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s\"%s\":\"the %s profile\"", first ? "" : ",",
					      n, n);
		if (o < sizeof(extra))
			snprintf(extra + o, sizeof(extra) - o, "}}");
	}
	pthread_mutex_unlock(&a->lock);
	snprintf(out, size, "{\"newNonce\":\"%s/nonce\",\"newAccount\":\"%s/acct\",\"newOrder\":\"%s/order\"%s}", base,
		 base, base, extra);
}

static void problem(struct hostile_acme_reply *r, int status, const char *type, const char *detail, long ra)
{
	r->status = status;
	r->ctype = "application/problem+json";
	snprintf(r->body, sizeof(r->body), "{\"type\":\"urn:ietf:params:acme:error:%s\",\"detail\":\"%s\",\"status\":%d}",
		 type, detail, status);
	if (ra > 0)
		snprintf(r->extra, sizeof(r->extra), "Retry-After: %ld\r\n", ra);
}

static int listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == n && strncmp(p, name, n) == 0)
			return 1;
		p += l + (c ? 1 : 0);
	}
	return 0;
}

/* dst and src both inside *a (snprintf's restrict would not allow that to the compiler). */
static void copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The JWS's payload as a JSON object, or NULL. */
static cJSON *jws_payload(const char *jws, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(jws, len), *out = NULL;
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "payload");
	unsigned char *pl = NULL;
	size_t pl_len = 0;
	if (cJSON_IsString(p) && at_b64url_decode(&pl, &pl_len, p->valuestring, strlen(p->valuestring)) == 0)
		out = cJSON_ParseWithLength((const char *)pl, pl_len);
	free(pl);
	cJSON_Delete(j);
	return out;
}

int hostile_acme_new_order(struct hostile_acme *a, const char *jws, size_t len, struct hostile_acme_reply *r)
{
	cJSON *pl = jws_payload(jws, len);
	const cJSON *prof = cJSON_GetObjectItemCaseSensitive(pl, "profile");
	const cJSON *repl = cJSON_GetObjectItemCaseSensitive(pl, "replaces");
	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&a->lock);
	struct hostile_acme_order *o = NULL;
	if (a->st.norders < HOSTILE_ACME_ORDERS) {
		o = &a->st.orders[a->st.norders++];
		memset(o, 0, sizeof(*o));
	}
	if (o && cJSON_IsString(prof))
		snprintf(o->profile, sizeof(o->profile), "%s", prof->valuestring);
	const cJSON *id, *ids = o != NULL ? cJSON_GetObjectItemCaseSensitive(pl, "identifiers") : NULL;
	cJSON_ArrayForEach(id, ids) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(id, "value");
		size_t used = strlen(o->names);
		if (cJSON_IsString(v) && used + 1 < sizeof(o->names))
			snprintf(o->names + used, sizeof(o->names) - used, "%s%s", o->nnames ? " " : "", v->valuestring);
		o->nnames++;
	}
	if (o && cJSON_IsString(repl)) {
		snprintf(o->replaces, sizeof(o->replaces), "%s", repl->valuestring);
		for (int i = 0; i < a->st.ncerts; i++)
			if (strcmp(a->certs[i].id, repl->valuestring) == 0)
				copy(o->replaces_serial, sizeof(o->replaces_serial), a->certs[i].serial);
	}
	int answered = 1;
	if (a->fault == HOF_503)
		problem(r, 503, "serverInternal", "the CA is overloaded, come back later", a->fault_retry_after);
	else if (a->fault == HOF_RATE_LIMITED)
		problem(r, 429, "rateLimited", "too many new orders recently", a->fault_retry_after);
	else if (cJSON_IsString(prof) && !listed(a->profiles, prof->valuestring))
		problem(r, 400, "invalidProfile", "that profile is not offered", 0);
	else if (cJSON_IsString(repl) && a->refuse_replaces)
		/* RFC 9773 section 7.4: the certificate named was already replaced (or cannot be). */
		problem(r, 409, "alreadyReplaced", "that certificate was already replaced", 0);
	else
		answered = 0;
	if (o)
		o->answered = answered ? r->status : 201;
	pthread_mutex_unlock(&a->lock);
	cJSON_Delete(pl);
	return answered;
}

void hostile_acme_renewal_info(struct hostile_acme *a, const char *id, struct hostile_acme_reply *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&a->lock);
	int k = -1;
	for (int i = 0; i < a->st.ncerts && k < 0; i++)
		if (strcmp(a->certs[i].id, id) == 0)
			k = i;
	if (a->st.nri < HOSTILE_ACME_RI) {
		a->st.ri[a->st.nri].mono_ms = mono_ms();
		a->st.ri[a->st.nri].cert = k;
		a->st.nri++;
	}
	if (!a->ari) {
		pthread_mutex_unlock(&a->lock);
		problem(r, 404, "malformed", "no renewal information here", 0);
		return;
	}
	if (k < 0) {
		pthread_mutex_unlock(&a->lock);
		problem(r, 404, "malformed", "no such certificate", 0);
		return;
	}
	const struct issued *c = &a->certs[k];
	time_t start, end;
	if (c->moved) {
		start = a->moved_at - 120;
		end = a->moved_at - 60;
	} else {
		long life = (long)(c->na - c->nb);
		start = c->nb + life * (c->start_pct ? c->start_pct : 66) / 100;
		end = c->nb + life * (c->end_pct ? c->end_pct : 75) / 100;
	}
	char s[40], e[40];
	rfc3339(s, sizeof(s), start);
	rfc3339(e, sizeof(e), end);
	r->status = 200;
	r->ctype = "application/json";
	snprintf(r->body, sizeof(r->body), "{\"suggestedWindow\":{\"start\":\"%s\",\"end\":\"%s\"}%s}", s, e,
		 c->moved ? ",\"explanationURL\":\"https://ca.test/incident/1\"" : "");
	if (a->ari_retry_after > 0)
		snprintf(r->extra, sizeof(r->extra), "Retry-After: %ld\r\n", a->ari_retry_after);
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_leaf_times(struct hostile_acme *a, long *nb_s, long *life_s)
{
	pthread_mutex_lock(&a->lock);
	if (a->validity_s > 0) {
		*nb_s = -1;
		*life_s = a->validity_s;
	} else {
		*nb_s = -3600;
		*life_s = 30L * 86400 + 3600;
	}
	pthread_mutex_unlock(&a->lock);
}

/* RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(the serial's DER content octets). */
static int cert_id(char *out, size_t size, X509 *leaf, char *serial_hex, size_t hsize)
{
	const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(leaf);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	unsigned char der[40];
	char *a64 = NULL, *s64 = NULL, *hex = NULL;
	int rc = -1;
	int n = bn ? BN_num_bytes(bn) : 0;
	if (aki == NULL || bn == NULL || n <= 0 || n > 32)
		goto out;
	BN_bn2bin(bn, der + 1);
	/* A positive INTEGER whose top bit is set takes a leading zero octet. */
	der[0] = 0;
	int lead = (der[1] & 0x80) ? 0 : 1;
	if (at_b64url_encode(&a64, ASN1_STRING_get0_data(aki), (size_t)ASN1_STRING_length(aki)) != 0 ||
	    at_b64url_encode(&s64, der + lead, (size_t)n + 1 - (size_t)lead) != 0 || (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	snprintf(out, size, "%s.%s", a64, s64);
	snprintf(serial_hex, hsize, "%s", hex);
	rc = 0;
out:
	OPENSSL_free(hex);
	free(a64);
	free(s64);
	BN_free(bn);
	return rc;
}

void hostile_acme_issued(struct hostile_acme *a, X509 *leaf)
{
	struct issued c;
	memset(&c, 0, sizeof(c));
	if (cert_id(c.id, sizeof(c.id), leaf, c.serial, sizeof(c.serial)) != 0)
		return;
	int day = 0, sec = 0;
	time_t now = time(NULL);
	if (ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notBefore(leaf)))
		c.nb = now + (time_t)day * 86400 + sec;
	if (ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(leaf)))
		c.na = now + (time_t)day * 86400 + sec;
	pthread_mutex_lock(&a->lock);
	c.start_pct = a->start_pct;
	c.end_pct = a->end_pct;
	if (a->st.ncerts < HOSTILE_ACME_CERTS) {
		snprintf(a->st.cert_serial[a->st.ncerts], sizeof(a->st.cert_serial[0]), "%s", c.serial);
		a->certs[a->st.ncerts++] = c;
	}
	pthread_mutex_unlock(&a->lock);
}

/* ---- the test's side ---- */

void hostile_acme_set_ari(struct hostile_ca *h, int on)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->ari = on;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_set_ari_retry_after(struct hostile_ca *h, long s)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->ari_retry_after = s;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_set_window(struct hostile_ca *h, int start_pct, int end_pct)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->start_pct = start_pct;
	a->end_pct = end_pct;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_ari_move_past(struct hostile_ca *h)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->moved_at = time(NULL);
	for (int i = 0; i < a->st.ncerts; i++)
		a->certs[i].moved = 1;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_refuse_replaces(struct hostile_ca *h, int on)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->refuse_replaces = on;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_set_profiles(struct hostile_ca *h, const char *names)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	snprintf(a->profiles, sizeof(a->profiles), "%s", names ? names : "");
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_set_order_fault(struct hostile_ca *h, enum hostile_order_fault f, long retry_after_s)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->fault = f;
	a->fault_retry_after = retry_after_s;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_set_validity(struct hostile_ca *h, long s)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	a->validity_s = s;
	pthread_mutex_unlock(&a->lock);
}

void hostile_acme_state(struct hostile_ca *h, struct hostile_acme_state *out)
{
	struct hostile_acme *a = hostile_ca_acme(h);
	pthread_mutex_lock(&a->lock);
	*out = a->st;
	pthread_mutex_unlock(&a->lock);
}
