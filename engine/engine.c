/* The engine (see engine.h): account persistence, the reuse check, locking and saving around an issuance. */
#include "engine/internal.h"
#include "store/name.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ISSUE_LOCK_LEASE_S 300
#define HOLD_SLICE_MS 1000 /* the hold hook's period while waiting for the issue lock */

/* A store component for the contact email: [a-z0-9.-] kept, everything else '-'. "default" without one. */
static void contact_component(char *out, size_t size, const char *email)
{
	size_t o = 0;
	if (email == NULL || *email == '\0') {
		snprintf(out, size, "default");
		return;
	}
	for (const char *p = email; *p && o + 1 < size; p++) {
		char ch = *p;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		out[o++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ? ch : '-';
	}
	out[o] = '\0';
	if (out[0] == '.')
		out[0] = '-';
}

int at_engine_new(struct at_engine **out, const struct at_engine_config *cfg)
{
	if (cfg == NULL || cfg->directory_url == NULL || cfg->store == NULL)
		return AT_E_INVAL;
	struct at_engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return AT_E_NOMEM;
	e->cfg = *cfg;
	int rc = at_store_ca_component(e->ca, sizeof(e->ca), cfg->directory_url);
	if (rc != 0)
		goto fail;
	contact_component(e->account_dir, sizeof(e->account_dir), cfg->email);
	struct at_acme_config ac = {
		.directory_url = cfg->directory_url,
		.ca_file = cfg->ca_file,
		.http = cfg->http,
		.poll_timeout_ms = cfg->poll_timeout_ms,
		.request_timeout_ms = cfg->request_timeout_ms,
	};
	rc = at_acme_new(&e->acme, &ac);
	if (rc != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	free(e);
	return rc;
}

void at_engine_free(struct at_engine *e)
{
	if (e == NULL)
		return;
	at_acme_free(e->acme);
	at_jws_key_free(e->account);
	free(e->account_url);
	free(e);
}

struct at_acme *at_engine_acme(struct at_engine *e)
{
	return e->acme;
}

const char *at_engine_ca(const struct at_engine *e)
{
	return e->ca;
}

static int account_keys(struct at_engine *e, char *key_key, char *url_key, size_t size)
{
	int rc = at_store_key(key_key, size, "accounts", e->ca, e->account_dir, "key.pem", (char *)NULL);
	if (rc == 0)
		rc = at_store_key(url_key, size, "accounts", e->ca, e->account_dir, "url", (char *)NULL);
	return rc;
}

int at_engine_account(struct at_engine *e, char **url)
{
	char key_key[512], url_key[512];
	char *pem = NULL, *stored_url = NULL;
	size_t pem_len = 0, url_len = 0;
	int rc;

	if (e->account == NULL) {
		rc = account_keys(e, key_key, url_key, sizeof(key_key));
		if (rc != 0)
			return rc;
		rc = at_store_load(e->cfg.store, key_key, &pem, &pem_len);
		if (rc == 0) {
			rc = at_jws_key_from_pem(&e->account, pem, pem_len);
			at_secret_free(pem, pem_len);
			if (rc != 0) {
				at_log_error("account key in the store (%s) does not parse", key_key);
				return rc;
			}
		} else if (rc == AT_E_NOTFOUND) {
			rc = at_jws_key_generate(&e->account, e->cfg.account_key_type);
			if (rc != 0)
				return rc;
			rc = at_jws_key_to_pem(&pem, &pem_len, e->account);
			if (rc == 0) {
				rc = at_store_put(e->cfg.store, key_key, pem, pem_len);
				at_secret_free(pem, pem_len);
			}
			if (rc != 0) {
				at_jws_key_free(e->account);
				e->account = NULL;
				return rc;
			}
		} else {
			return rc;
		}
		if (at_store_load(e->cfg.store, url_key, &stored_url, &url_len) == 0) {
			free(e->account_url);
			e->account_url = strndup(stored_url, url_len);
			at_secret_free(stored_url, url_len);
		}
	}
	/* Asking newAccount with the stored key returns the existing account (200) or re-creates it when the
	 * CA forgot it (a test CA restarted): one request, and the URL we hold is known to be good. */
	struct at_acme_account_opts ao = {
		.email = e->cfg.email,
		.agree_tos = 1,
		.eab_kid = e->cfg.eab_kid,
		.eab_hmac_key = e->cfg.eab_hmac_key,
	};
	char *fresh = NULL;
	rc = at_acme_account(e->acme, e->account, &ao, &fresh);
	if (rc != 0)
		return rc;
	if (e->account_url == NULL || strcmp(e->account_url, fresh) != 0) {
		rc = account_keys(e, key_key, url_key, sizeof(key_key));
		if (rc == 0)
			rc = at_store_put(e->cfg.store, url_key, fresh, strlen(fresh));
		if (rc != 0) {
			free(fresh);
			return rc;
		}
		free(e->account_url);
		e->account_url = fresh;
	} else {
		free(fresh);
	}
	if (url) {
		*url = strdup(e->account_url);
		if (*url == NULL)
			return AT_E_NOMEM;
	}
	return 0;
}

time_t at_renewal_time(time_t not_before, time_t not_after, unsigned rnd, long jitter_s)
{
	time_t life = not_after - not_before;
	if (life <= 0)
		return not_before;
	/* A third of the lifetime left, or half of it for short-lived certificates (under ten days). */
	time_t left = life < 10 * 86400 ? life / 2 : life / 3;
	time_t t = not_after - left;
	if (jitter_s > 0) {
		/* Never move earlier than half-way through the lifetime left at that point. */
		long j = jitter_s < (long)(left / 2) ? jitter_s : (long)(left / 2);
		if (j > 0)
			t -= (time_t)(rnd % (unsigned long)(j + 1));
	}
	return t;
}

time_t at_renewal_floor(time_t not_before, time_t not_after)
{
	time_t life = not_after - not_before;
	return life > 0 ? not_before + life / 10 : not_before;
}

static int record_good(const struct at_cert_record *rec, const char *const *names, size_t n, time_t now)
{
	/* The record must cover exactly what is asked now: a name added to the set needs a new order. */
	if (rec->nnames != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;
		while (j < rec->nnames && strcmp(rec->names[j], names[i]) != 0)
			j++;
		if (j == rec->nnames)
			return 0;
	}
	if (now >= rec->info.not_after)
		return 0;
	/* Never renew a certificate younger than a tenth of its lifetime (a forced ensure, as for an ARI window,
	 * still does): whatever made it look due (a renewal time stored by a host with a wrong clock, a CA whose
	 * notBefore is ahead of our clock), ordering it again would only spend the CA's duplicate-certificate limit
	 * (Let's Encrypt: 5 a week for the same names). */
	if (now < at_renewal_floor(rec->info.not_before, rec->info.not_after))
		return 1;
	time_t due = rec->renew_after > 0 ? (time_t)rec->renew_after :
					    at_renewal_time(rec->info.not_before, rec->info.not_after, 0, 0);
	return now < due;
}

int at_engine_record_current(const struct at_cert_record *rec, const char *const *names, size_t nnames, time_t now)
{
	return record_good(rec, names, nnames, now);
}

/*
 * The issue lock's lease, kept alive without a thread: the ACME client calls this at every step and poll of the
 * issuance and about every second of a request that waits for the CA (http.h's during hook), and solvers that
 * wait (DNS-01) call it through at_challenge_keepalive. The lease is written again
 * once a third of it has gone by, so a wait longer than the lease (a slow DNS provider, a CA that keeps the
 * order processing) never lets a second process or host take the lock and order the same names meanwhile.
 */
struct lease {
	struct at_engine *e;
	const char *lock;
	int lease_s;
	long long refreshed_ms;
	int lost;
};

static int lease_keepalive(void *ctx)
{
	struct lease *l = ctx;
	if (l->e->cfg.hold_hook != NULL)
		l->e->cfg.hold_hook(l->e->cfg.hold_hook_ctx);
	if (l->lost)
		return AT_E_LOCKED;
	long long now = at_clock_ms();
	if (now - l->refreshed_ms < l->lease_s * 1000LL / 3)
		return 0;
	int rc = at_store_lock_refresh(l->e->cfg.store, l->lock, l->lease_s);
	if (rc == AT_E_LOCKED || rc == AT_E_STATE) {
		at_log_error("store lock %s was lost while issuing (its lease ended); stopping: the new holder goes on",
			     l->lock);
		l->lost = 1;
		return AT_E_LOCKED;
	}
	if (rc != 0) {
		/* a store that cannot write now: the lease still runs, try again at the next call */
		at_log_warn("store lock %s: refreshing the lease failed: %s", l->lock, at_strerror(rc));
		return 0;
	}
	l->refreshed_ms = now;
	return 0;
}

/* Takes the issue lock, waiting up to wait_ms; with a hold hook, in slices of HOLD_SLICE_MS with the hook called
 * between them (a wait for another holder can outlast the caller's own lease). 0 or at_store_lock's error. */
static int issue_lock_wait(struct at_engine *e, const char *lock, int lease_s, long wait_ms)
{
	if (e->cfg.hold_hook == NULL)
		return at_store_lock(e->cfg.store, lock, lease_s, (int)wait_ms);
	long long end = at_clock_ms() + wait_ms;
	for (;;) {
		long long left = end - at_clock_ms();
		int rc = at_store_lock(e->cfg.store, lock, lease_s, (int)(left > HOLD_SLICE_MS ? HOLD_SLICE_MS :
									  left > 0 ? left : 0));
		if (rc != AT_E_LOCKED || left <= HOLD_SLICE_MS)
			return rc;
		e->cfg.hold_hook(e->cfg.hold_hook_ctx);
	}
}

/* What the order callback needs to keep a new order (see engine_pending). */
struct order_keep {
	struct at_engine *e;
	const char *comp;
	const char *const *names;
	size_t nnames;
	EVP_PKEY *key;
	int kept; /* an order is in the store for these names */
};

static int keep_order(void *ctx, const char *order_url)
{
	struct order_keep *k = ctx;
	struct engine_pending p = { .url = (char *)order_url, .account = k->e->account_url,
				    .names = (char **)k->names, .nnames = k->nnames };
	int rc = at_key_to_pem(&p.key_pem, &p.key_len, k->key);
	if (rc != 0)
		return rc;
	rc = engine_pending_save(k->e, k->comp, &p);
	at_secret_free(p.key_pem, p.key_len);
	if (rc != 0)
		at_log_error("the store refused to keep the new order for %s (%s); not going on with it", k->names[0],
			     at_strerror(rc));
	else
		k->kept = 1;
	return rc;
}

/*
 * One issuance under the names' issue lock: resumes the pending order for exactly these names and this account
 * when there is one (with the key kept with it), else places a new one, kept in the store before any challenge
 * with a fresh key. The pending order is dropped when the issuance ends in a certificate or in a spent order, and
 * kept when it may still give one (see engine_order_resumable).
 */
static int issue_locked(struct at_engine *e, const char *comp, const char *const *names, size_t nnames,
			const struct at_solver *solvers, size_t nsolvers, struct at_cert_record *old, int *used,
			struct lease *lease)
{
	struct at_acme_cert cert;
	struct at_cert_record rec;
	struct engine_pending pend;
	struct order_keep keep = { .e = e, .comp = comp, .names = names, .nnames = nnames };
	char *replaces = NULL;
	int rc, resumable = 0;

	memset(&pend, 0, sizeof(pend));
	if (e->account == NULL || e->account_url == NULL) {
		rc = at_engine_account(e, NULL);
		if (rc != 0)
			return rc;
	} else {
		rc = at_acme_use_account(e->acme, e->account, e->account_url);
		if (rc != 0)
			return rc;
	}
	rc = engine_pending_load(e, comp, &pend);
	if (rc == 0 && engine_pending_matches(&pend, names, nnames, e->account_url) &&
	    at_key_from_pem(&keep.key, pend.key_pem, pend.key_len) == 0) {
		keep.kept = 1;
	} else {
		if (rc == 0 || rc == AT_E_PARSE) {
			at_log_info("dropping the pending order for %s: it is for other names, another account or "
				    "does not parse", names[0]);
			if (engine_pending_drop(e, comp) != 0)
				at_log_warn("could not drop the pending order for %s", names[0]);
		}
		engine_pending_clear(&pend);
		rc = at_key_generate(&keep.key, e->cfg.key_type);
		if (rc != 0)
			goto out;
	}
	if (old && old->chain_pem && at_ari_cert_id(&replaces, old->chain_pem, old->chain_len) != 0)
		replaces = NULL;
	struct at_acme_order_opts oo = {
		.names = names,
		.nnames = nnames,
		.key_type = e->cfg.key_type,
		.cert_key = keep.key,
		.solvers = solvers,
		.nsolvers = nsolvers,
		.preferred_chain = e->cfg.preferred_chain,
		.profile = e->cfg.profile,
		.profile_required = e->cfg.profile_required,
		.must_staple = e->cfg.must_staple,
		.replaces = replaces,
		.resume_url = pend.url,
		.on_order = keep_order,
		.on_order_ctx = &keep,
		.keepalive = lease_keepalive,
		.keepalive_ctx = lease,
	};
	at_log_info("%s a certificate for %s%s through %s", pend.url ? "resuming the order of" : "obtaining",
		    names[0], nnames > 1 ? " and more" : "", at_challenge_type_name(solvers[0].type));
	rc = at_acme_obtain(e->acme, &oo, &cert);
	if (rc == AT_E_NO_ACCOUNT || rc == AT_E_ACME) {
		/* The CA may have forgotten the account (a restarted test CA): register the key again, once. */
		const struct at_problem *p = at_acme_last_problem(e->acme);
		if (rc == AT_E_NO_ACCOUNT || (p->type && strstr(p->type, "unauthorized"))) {
			if (at_engine_account(e, NULL) == 0) {
				/* an order of the forgotten account is not ours to resume any more */
				oo.resume_url = NULL;
				rc = at_acme_obtain(e->acme, &oo, &cert);
			}
		}
	}
	if (rc == 0) {
		memset(&rec, 0, sizeof(rec));
		rec.key_pem = cert.key_pem;
		rec.key_len = cert.key_len;
		rec.chain_pem = cert.chain_pem;
		rec.chain_len = cert.chain_len;
		rec.names = (char **)names;
		rec.nnames = nnames;
		*used = cert.nused > 0 ? (int)cert.used[0] : nsolvers == 1 ? (int)solvers[0].type : -1;
		rc = at_cert_record_save(e->cfg.store, e->ca, &rec);
		at_acme_cert_clear(&cert);
	}
	resumable = rc != 0 && engine_order_resumable(rc);
	if (keep.kept && !resumable && engine_pending_drop(e, comp) != 0)
		at_log_warn("could not drop the finished order for %s from the store", names[0]);
	if (keep.kept && resumable)
		at_log_info("the order for %s is kept and will be resumed (%s)", names[0], at_strerror(rc));
out:
	free(replaces);
	EVP_PKEY_free(keep.key);
	engine_pending_clear(&pend);
	return rc;
}

int at_engine_fallback(struct at_engine *e, int rc)
{
	/* Once the CSR is in, the certificate may come whatever the error: another challenge type would place
	 * another order for the same names, a duplicate certificate. A wait that ran out (the CA slow to
	 * validate, or to issue) is not a failed challenge either: the order is kept and resumed. */
	if (at_acme_last_finalized(e->acme))
		return 0;
	return rc == AT_E_AUTHZ_INVALID || rc == AT_E_CHALLENGE || rc == AT_E_NO_SOLVER || rc == AT_E_ORDER_INVALID;
}

int at_engine_ensure(struct at_engine *e, const char *const *names, size_t nnames, const struct at_solver *solvers,
		     size_t nsolvers, int force, struct at_cert_record *out, int *ordered)
{
	struct at_cert_record rec;
	char comp[AT_NAME_MAX + 1], lock[AT_NAME_MAX + 16];
	int rc, have;

	*ordered = 0;
	if (nnames == 0)
		return AT_E_INVAL;
	rc = at_name_to_component(comp, names[0]);
	if (rc != 0)
		return rc;
	memset(&rec, 0, sizeof(rec));
	have = at_cert_record_load(e->cfg.store, e->ca, names[0], &rec) == 0;
	if (have)
		at_engine_ari_apply(e, &rec);
	if (have && !force && record_good(&rec, names, nnames, time(NULL)))
		goto done;

	if (e->cfg.guard_attempts) {
		struct at_attempt_plan plan;
		if (!engine_attempt_allowed(e, names[0], solvers, nsolvers, &plan)) {
			long wait = (long)(plan.next_try - engine_now(e));
			at_log_info("not ordering for %s through %s before %ld s from now (%d failed tries in a row, %d "
				    "failed validations in the last hour%s%s)", names[0],
				    at_challenge_type_name(solvers[0].type), wait, plan.failures, plan.failed_authz_hour,
				    plan.last_problem[0] ? "; last: " : "", plan.last_problem);
			at_acme_problem_reset(e->acme, wait > 0 ? wait : 1);
			at_cert_record_clear(&rec);
			return AT_E_BACKOFF;
		}
	}
	snprintf(lock, sizeof(lock), "issue-%s", comp);
	long wait = e->cfg.poll_timeout_ms > 0 ? e->cfg.poll_timeout_ms : 120000;
	struct lease lease = { .e = e, .lock = lock, .lease_s = e->cfg.issue_lease_s > 0 ? e->cfg.issue_lease_s :
									       ISSUE_LOCK_LEASE_S };
	rc = issue_lock_wait(e, lock, lease.lease_s, wait);
	lease.refreshed_ms = at_clock_ms();
	if (rc != 0) {
		at_cert_record_clear(&rec);
		return rc;
	}
	/* Another process or host may have issued while we waited for the lock. */
	at_cert_record_clear(&rec);
	have = at_cert_record_load(e->cfg.store, e->ca, names[0], &rec) == 0;
	if (have)
		at_engine_ari_apply(e, &rec);
	if (!have || force || !record_good(&rec, names, nnames, time(NULL))) {
		int used = -1;
		rc = issue_locked(e, comp, names, nnames, solvers, nsolvers, have ? &rec : NULL, &used, &lease);
		/* A lost lock is the new holder's to record. */
		if (!lease.lost)
			engine_attempt_record(e, names[0], solvers, nsolvers, used, rc, have ? rec.info.not_after : 0);
		if (rc == 0) {
			*ordered = 1;
			at_cert_record_clear(&rec);
			rc = at_cert_record_load(e->cfg.store, e->ca, names[0], &rec);
			if (rc == 0)
				at_log_info("obtained a certificate for %s, issuer %s, valid until %ld", names[0],
					    rec.info.issuer, (long)rec.info.not_after);
		}
	}
	int urc = at_store_unlock(e->cfg.store, lock);
	if (rc == 0 && urc != 0)
		at_log_warn("store lock %s: unlock failed: %s", lock, at_strerror(urc));
	if (rc != 0) {
		at_cert_record_clear(&rec);
		return rc;
	}
done:
	if (out)
		*out = rec;
	else
		at_cert_record_clear(&rec);
	return 0;
}
