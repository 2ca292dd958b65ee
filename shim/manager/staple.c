/*
 * OCSP stapling for the managed certificate (see staple.h).
 *
 * Owns: one libcurl handle for the responders (made on first use, kept for the process: the leader asks every
 * few hours). Runs on the manager's threads only; the libcurl waits release the quiesce lock through the seam's
 * wait hooks like every other request of the manager. Never on a handshake: the handshake reads the response
 * from its record in the region (hooks.c).
 */
#include "shim/manager/staple.h"
#include "store/name.h"
#include "store/store.h"
#include "util/fnv.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCH_TIMEOUT_MS 10000
#define MIN_REFRESH_S 5        /* never ask a responder more often, whatever its validity says */
#define NO_NEXT_UPDATE_S 3600  /* a response without nextUpdate (RFC 6960 2.4): asked again within the hour */
#define RETRY_S 60             /* after a failed fetch, doubled per failure up to RETRY_MAX_S */
#define RETRY_MAX_S 3600

long mgr_staple_scaled(long s)
{
	long d = mgr_host->cfg->backoff_divisor;
	s = d > 1 ? s / d : s;
	return s < MIN_REFRESH_S ? MIN_REFRESH_S : s;
}

long mgr_staple_retry_s(int failures)
{
	long wait_s = (long)RETRY_S << (failures < 6 ? failures : 6);
	return mgr_staple_scaled(wait_s > RETRY_MAX_S ? RETRY_MAX_S : wait_s);
}

/* One per thread: the leader's loop and the manager process's stapling thread (staple_many.c) fetch at once, and a
 * libcurl handle is one thread's at a time. Never freed: the threads live as long as the process. */
static _Thread_local struct at_http_ops http;
static _Thread_local int have_http;

static uint64_t chain_hash(const struct at_cert_record *rec)
{
	return at_fnv1a64(rec->chain_pem, rec->chain_len) | 1;
}

static int store_key(char *out, size_t size, const char *ca, const char *name)
{
	char comp[AT_NAME_MAX + 1];
	int rc = at_name_to_component(comp, name);
	return rc != 0 ? rc : at_store_key(out, size, "certificates", ca, comp, "ocsp", (char *)NULL);
}

/* When a response stops being stapled: its nextUpdate (or an hour after thisUpdate without one). */
static time_t until_of(const struct at_ocsp_status *st)
{
	return st->next_update ? st->next_update : st->this_update + NO_NEXT_UPDATE_S;
}

/* Half its validity (as CertMagic): time enough to fetch again before it ends, however long it lasts. The tests'
 * scale (AUTOTLS_TEST_BACKOFF_SCALE) divides the wait to it as it divides the retries: a test's responder signs
 * for a minute at the least, and a revocation must show within seconds there. */
static time_t refresh_of(const struct at_ocsp_status *st, time_t now)
{
	time_t at = st->this_update + (until_of(st) - st->this_update) / 2;
	long d = mgr_host->cfg->backoff_divisor;
	if (d > 1 && at > now)
		at = now + (at - now) / d;
	return at < now + MIN_REFRESH_S ? now + MIN_REFRESH_S : at;
}

static void drop_response(struct mgr_staple *s)
{
	free(s->der);
	s->der = NULL;
	s->len = 0;
	memset(&s->st, 0, sizeof(s->st));
}

/* Takes der (stolen) as s's response; *changed set. */
static void take(struct mgr_staple *s, unsigned char *der, size_t len, const struct at_ocsp_status *st, time_t now,
		 int *changed)
{
	drop_response(s);
	s->der = der;
	s->len = len;
	s->st = *st;
	s->refresh_at = refresh_of(st, now);
	s->failures = 0;
	s->warned = 0;
	*changed = 1;
}

/* A new certificate in service: its responder, and nothing kept of the last one's. 0, or 1 when it has none. */
static int new_cert(struct mgr_staple *s, const char *name, const struct at_cert_record *rec, int *changed)
{
	if (s->der != NULL)
		*changed = 1;
	drop_response(s);
	free(s->url);
	s->url = NULL;
	s->cert_hash = chain_hash(rec);
	s->refresh_at = 0;
	s->failures = 0;
	s->revoked = 0;
	s->warned = 0;
	int rc = at_ocsp_leaf_info(&s->url, &s->must_staple, rec->chain_pem, rec->chain_len);
	if (rc != 0) {
		if (s->must_staple)
			at_log_warn("OCSP: %s's certificate is must-staple (TLS Feature status_request, RFC 7633) but "
				    "names no OCSP responder: nothing can be stapled, and clients that enforce it refuse it",
				    name);
		if (rc != AT_E_NOTFOUND)
			at_log_warn("OCSP: cannot read the responder of %s's certificate (%s); nothing is stapled", name,
				    at_strerror(rc));
		else
			at_log_debug("OCSP: %s's certificate names no responder; nothing is stapled", name);
		return 1;
	}
	return 0;
}

/* The stored response, when it is for rec and still valid: 0 with *der (new), *len and *st. */
static int load_stored(unsigned char **der, size_t *len, struct at_ocsp_status *st, struct at_store *store,
		       const char *ca, const char *name, const struct at_cert_record *rec)
{
	char key[1024];
	char *val = NULL;
	size_t n = 0;
	int rc = store_key(key, sizeof(key), ca, name);
	if (rc == 0)
		rc = at_store_load(store, key, &val, &n);
	if (rc != 0)
		return rc;
	rc = at_ocsp_check(st, (const unsigned char *)val, n, rec->chain_pem, rec->chain_len);
	if (rc == 0) {
		*der = (unsigned char *)val;
		*len = n;
	} else {
		free(val);
	}
	return rc;
}

void mgr_staple_load(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		     const struct at_cert_record *rec, int *changed)
{
	unsigned char *der = NULL;
	size_t len = 0;
	struct at_ocsp_status st;
	*changed = 0;
	if (mgr_host->cfg->ocsp_off)
		return;
	if (s->cert_hash != chain_hash(rec) && new_cert(s, name, rec, changed) != 0)
		return;
	if (s->url == NULL || load_stored(&der, &len, &st, store, ca, name, rec) != 0)
		return;
	if (st.status != AT_OCSP_GOOD || (s->der != NULL && s->len == len && memcmp(s->der, der, len) == 0)) {
		if (st.status != AT_OCSP_GOOD && s->der != NULL) {
			drop_response(s);
			*changed = 1;
		}
		free(der);
		return;
	}
	take(s, der, len, &st, time(NULL), changed);
}

static void fetched(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		    unsigned char *der, size_t len, const struct at_ocsp_status *st, time_t now, int *changed,
		    int *revoked, char *why, size_t why_size)
{
	char key[1024];
	/* Stored whatever it says: a revocation is news for every host that shares the store, too. */
	int rc = store_key(key, sizeof(key), ca, name);
	if (rc == 0)
		rc = at_store_put(store, key, der, len);
	if (rc != 0)
		at_log_warn("OCSP: cannot keep the response for %s in the store (%s); it is stapled all the same", name,
			    at_strerror(rc));
	if (st->status == AT_OCSP_GOOD) {
		at_log_info("OCSP: %s is good (next update in %ld s); stapled", name,
			    (long)(until_of(st) - now));
		take(s, der, len, st, now, changed);
		return;
	}
	free(der);
	if (s->der != NULL)
		*changed = 1;
	drop_response(s);
	if (st->status == AT_OCSP_REVOKED) {
		s->revoked = 1;
		s->refresh_at = 0; /* the certificate is replaced now; the new one gets its own */
		*revoked = 1;
		snprintf(why, why_size, "OCSP: revoked at %lld (reason %d) per %s", (long long)st->revoked_at,
			 st->reason, s->url);
		at_log_error("OCSP: the CA says the certificate for %s is revoked (reason %d); ordering a new one now",
			     name, st->reason);
		return;
	}
	/* unknown: not yet in the responder's data (a new certificate), or not its CA's: ask again later. */
	s->refresh_at = now + mgr_staple_scaled(RETRY_S);
	at_log_warn("OCSP: the responder does not know %s's certificate; nothing stapled, asking again in %ld s", name,
		    mgr_staple_scaled(RETRY_S));
}

static void update(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		   const struct at_cert_record *rec, int *changed, int *revoked, char *why, size_t why_size);

void mgr_staple_update(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		       const struct at_cert_record *rec, int *changed, int *revoked, char *why, size_t why_size)
{
	update(s, store, ca, name, rec, changed, revoked, why, why_size);
	/* RFC 7633 section 4.2.3: a client that sees must-staple requires the response; without one it refuses. */
	if (s->must_staple && s->url != NULL && s->der == NULL && !s->revoked && !s->warned && !mgr_host->cfg->ocsp_off) {
		s->warned = 1;
		at_log_warn("OCSP: %s's certificate is must-staple (RFC 7633) and has no good OCSP response to staple; "
			    "clients that enforce must-staple refuse it until one is fetched", name);
	}
}

static void update(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		   const struct at_cert_record *rec, int *changed, int *revoked, char *why, size_t why_size)
{
	time_t now = time(NULL);
	*changed = 0;
	*revoked = 0;
	if (mgr_host->cfg->ocsp_off)
		return;
	if (s->cert_hash != chain_hash(rec)) {
		if (new_cert(s, name, rec, changed) != 0)
			return;
		/* Another process or host may have fetched it already (a restart, a second server on the store). */
		unsigned char *der = NULL;
		size_t len = 0;
		struct at_ocsp_status st;
		if (load_stored(&der, &len, &st, store, ca, name, rec) == 0 && st.status == AT_OCSP_GOOD) {
			/* Valid (checked): stapled now; past half its validity it is also asked for again now. */
			at_log_info("OCSP: the stored response for %s is good; stapled", name);
			take(s, der, len, &st, now, changed);
			if (st.this_update + (until_of(&st) - st.this_update) / 2 > now)
				return;
		} else {
			free(der);
		}
		s->refresh_at = now; /* fetch now */
	}
	if (s->url == NULL || s->refresh_at == 0 || now < s->refresh_at)
		return;
	if (!have_http) {
		int rc = at_http_curl_new(&http, mgr_host->cfg->ca_roots, NULL);
		if (rc != 0) {
			at_log_error("OCSP: no HTTP client (%s); nothing is stapled", at_strerror(rc));
			s->refresh_at = now + RETRY_MAX_S;
			return;
		}
		have_http = 1;
	}
	unsigned char *der = NULL;
	size_t len = 0;
	struct at_ocsp_status st;
	int rc = at_ocsp_fetch(&der, &len, &st, &http, s->url, rec->chain_pem, rec->chain_len, FETCH_TIMEOUT_MS);
	if (rc == 0) {
		fetched(s, store, ca, name, der, len, &st, now, changed, revoked, why, why_size);
		return;
	}
	long wait_s = mgr_staple_retry_s(s->failures);
	s->failures++;
	s->refresh_at = now + wait_s;
	if (s->der != NULL && until_of(&s->st) <= now) {
		drop_response(s); /* past its nextUpdate: a client would refuse it */
		*changed = 1;
	}
	at_log_warn("OCSP: asking %s about %s failed (%s); %s, next try in %ld s", s->url, name, at_strerror(rc),
		    s->der ? "the last response stays stapled until its next update" : "nothing is stapled", wait_s);
}

void mgr_staple_ref(const struct mgr_staple *s, struct mgr_staple_ref *out)
{
	memset(out, 0, sizeof(*out));
	if (s->der == NULL || s->st.status != AT_OCSP_GOOD || until_of(&s->st) <= time(NULL))
		return;
	out->der = s->der;
	out->len = s->len;
	out->until = until_of(&s->st);
}

void mgr_staple_clear(struct mgr_staple *s)
{
	drop_response(s);
	free(s->url);
	memset(s, 0, sizeof(*s));
}
