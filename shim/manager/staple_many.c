/*
 * OCSP stapling for the on-demand and sites certificates (see staple_many.h); staple.c does the fetching, the
 * checking and the store, for one certificate at a time, as it does for AUTOTLS_DOMAINS' certificate.
 *
 * What it owns:
 *   - the staple table (sm_mu): one entry per published record whose certificate names a responder (a
 *     certificate without one has no entry, no due time, no fetch), found by name through an open-addressing
 *     index, and the due time of each in a min-heap (util/due_queue.h);
 *   - one thread, the stapler, started with the first entry. Each turn it takes at most FETCHES_PER_TURN
 *     entries that are due, earliest first, fetches for each (staple.c: refresh at half the validity, retries
 *     1 min doubling to an hour, withdrawn at nextUpdate), publishes what changed in one batch (followers wake
 *     once per turn, not once per certificate), and paces the next turn a second later while more are due: a
 *     restart with 100,000 certificates asks the responders 16 times a second at most, and only for what the
 *     store holds no fresh response for (mgr_staple_publish_extra takes a stored one at once, without asking);
 *   - a store handle of the stapler's own (a publisher lends its own to mgr_staple_publish_extra).
 * An entry the stapler works on is busy: its mgr_staple is the stapler's, unlocked, until it is done; a publisher
 * that registers a new certificate for it meanwhile leaves it pending (the stapler takes it when done, and drops
 * what it fetched for the old one), and a withdrawal marks it removed (the stapler frees it).
 * A revoked answer fires `revoked` and the stapler orders a new certificate for the record's names at once
 * (mgr_ca_ensure with force, as the leader does for its own; on failure again after 1 min doubling to an hour),
 * and publishes it through mgr_staple_publish_extra like any publisher.
 * Lock order: the quiesce lock, then sm_mu, then publish.c's state_mu. The publishers hold the quiesce lock and
 * each lends its own store handle, so their looks at the store need no lock of this file's. sm_mu is held for
 * memory work and the region's copy only, never across the network or the store. Never on a server thread.
 */
#include "shim/manager/staple_many.h"
#include "shim/manager/ca_list.h"
#include "shim/manager/events.h"
#include "shim/manager/manager.h"
#include "shim/manager/staple.h"
#include "acme/acme.h"
#include "acme/solver.h"
#include "engine/engine.h"
#include "store/store.h"
#include "util/due_queue.h"
#include "util/id_slots.h"
#include "util/fnv.h"
#include "util/log.h"
#include "util/name_index.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FETCHES_PER_TURN 16
#define TURN_MS 1000       /* the pace of turns while more entries are due */
#define IDLE_WAIT_S 30     /* the longest wait for a due time (a new entry wakes the stapler at once) */
#define MISMATCH_S 60      /* the store holds another certificate than the one in service: looked at again then */

struct sm_entry {
	uint32_t id;
	char *name;            /* owned: the region record's name (the certificate's store name) */
	char *ca;              /* owned: the store component of the CA that issued it */
	struct mgr_staple st;  /* the certificate in service and its response; the stapler's alone while busy */
	struct mgr_staple pend; /* a newer certificate registered while busy (has_pend), with pend_ca */
	char *pend_ca;
	int has_pend, busy, removed;
	int renew_failures;
	/* The certificate the record was last published with (its chain's hash), with st's staple then: one copy of
	 * each response in this process (100,000 of a few hundred bytes to a few KiB), none kept twice. */
	uint64_t pub_hash;
};

static pthread_mutex_t sm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sm_cv = PTHREAD_COND_INITIALIZER;
static struct at_id_slots ents; /* the entries by id (util/id_slots.h) */
static struct at_name_index ix; /* by name, over ents[] (util/name_index.h) */
static struct at_due_queue due;
static int started;

static uint64_t chain_hash(const struct at_cert_record *rec)
{
	return at_fnv1a64(rec->chain_pem, rec->chain_len) | 1; /* staple.c's: st.cert_hash compares with it */
}

/* ---- the name index (caller holds sm_mu) ---- */

/* An entry's name by id; a free id or a withdrawn entry has none (a rebuild leaves it out). */
static const char *entry_name(const void *arg, size_t id)
{
	(void)arg;
	const struct sm_entry *e = ents.at[id];
	return e != NULL && !e->removed ? e->name : NULL;
}

static struct sm_entry *lookup(const char *name)
{
	int found;
	if (ix.slot == NULL)
		return NULL;
	size_t k = at_name_index_find(&ix, name, entry_name, NULL, &found);
	return found ? ents.at[at_name_index_pos(&ix, k)] : NULL;
}

static void entry_free(struct sm_entry *e)
{
	at_id_slots_put(&ents, e->id);
	at_due_remove(&due, e->id);
	mgr_staple_clear(&e->st);
	mgr_staple_clear(&e->pend);
	free(e->name);
	free(e->ca);
	free(e->pend_ca);
	free(e);
}

/* Takes e out of the index (a name registered again gets a new entry); frees it unless the stapler holds it. */
static void detach(struct sm_entry *e)
{
	at_name_index_forget(&ix, e->name, entry_name, NULL);
	at_due_remove(&due, e->id);
	e->removed = 1;
	if (!e->busy)
		entry_free(e);
}

static struct sm_entry *create(const char *name)
{
	if (at_name_index_full(&ix) && at_name_index_rebuild(&ix, at_id_slots_used(&ents) + 1, ents.n, entry_name, NULL) != 0)
		return NULL;
	struct sm_entry *e = calloc(1, sizeof(*e));
	if (e == NULL || (e->name = strdup(name)) == NULL)
		goto fail;
	if (at_id_slots_take(&ents, e, &e->id) != 0)
		goto fail;
	int found;
	size_t k = at_name_index_find(&ix, name, entry_name, NULL, &found);
	at_name_index_put(&ix, k, e->id);
	return e;
fail:
	if (e != NULL)
		free(e->name);
	free(e);
	return NULL;
}

/* ---- publishing (caller holds sm_mu) ---- */

/* Publishes rec for e with ref (may be empty) and remembers which certificate was published. */
static int publish_locked(struct sm_entry *e, const struct at_cert_record *rec, const struct mgr_staple_ref *ref)
{
	int rc = mgr_publish_extra_stapled(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len, e->name, ref);
	if (rc == 0 || rc == AT_E_STATE)
		e->pub_hash = chain_hash(rec);
	return rc;
}

/* When st is next looked at: its refresh, or the end of its response when that comes first (withdrawn then);
 * 0: not at all. */
static time_t due_of(const struct mgr_staple *st)
{
	struct mgr_staple_ref ref;
	mgr_staple_ref(st, &ref);
	time_t at = st->refresh_at;
	if (ref.len > 0 && (at == 0 || ref.until < at))
		at = ref.until;
	return at;
}

static void schedule(struct sm_entry *e, time_t at)
{
	if (at == 0) {
		at_due_remove(&due, e->id);
		return;
	}
	time_t before = 0;
	int had = at_due_next(&due, &before) == 0;
	if (at_due_set(&due, e->id, at) != 0) {
		at_log_warn("OCSP: out of memory scheduling %s's staple; it is not refreshed", e->name);
		return;
	}
	if (!had || at < before)
		pthread_cond_signal(&sm_cv);
}

/* ---- the stapler ---- */

static void *stapler_main(void *arg);

int mgr_staple_publish_extra(struct at_store *st, const char *ca, const char *name, const struct at_cert_record *rec)
{
	if (mgr_host->cfg->ocsp_off)
		return mgr_publish_extra(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len, name);
	uint64_t h = chain_hash(rec);
	int rc;
	pthread_mutex_lock(&sm_mu);
	struct sm_entry *e = lookup(name);
	if (e != NULL && e->pub_hash == h) {
		/* The certificate published last (a renewal check that found it still good): with its staple. While
		 * the stapler works on it, the region holds it already as it was published, and the stapler publishes
		 * what its work changes. */
		if (e->busy) {
			rc = AT_E_STATE;
		} else {
			struct mgr_staple_ref ref;
			mgr_staple_ref(&e->st, &ref);
			rc = publish_locked(e, rec, &ref);
		}
		pthread_mutex_unlock(&sm_mu);
		return rc;
	}
	pthread_mutex_unlock(&sm_mu);

	/* A certificate new here: its responder, and the response stored beside it when that is still fresh. One
	 * that names none (most, since Let's Encrypt ended OCSP) is told by a search of its DER, not a parse. */
	struct mgr_staple fresh;
	int changed = 0;
	memset(&fresh, 0, sizeof(fresh));
	if (!at_ocsp_worth_a_look(rec->chain_pem, rec->chain_len))
		goto plain;
	mgr_staple_load(&fresh, st, ca, name, rec, &changed);
plain:;
	char *ca_copy = fresh.url != NULL ? strdup(ca) : NULL;
	pthread_mutex_lock(&sm_mu);
	e = lookup(name);
	if (fresh.url == NULL || ca_copy == NULL) {
		/* No responder (or no memory for one more entry): published as it is, nothing scheduled. */
		if (e != NULL)
			detach(e);
		struct mgr_staple_ref none = { 0 };
		rc = mgr_publish_extra_stapled(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len, name, &none);
		pthread_mutex_unlock(&sm_mu);
		mgr_staple_clear(&fresh);
		free(ca_copy);
		return rc;
	}
	if (e == NULL && (e = create(name)) == NULL) {
		rc = mgr_publish_extra_stapled(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len, name, NULL);
		pthread_mutex_unlock(&sm_mu);
		at_log_warn("OCSP: out of memory for %s's staple; published without one", name);
		mgr_staple_clear(&fresh);
		free(ca_copy);
		return rc;
	}
	struct mgr_staple_ref ref;
	mgr_staple_ref(&fresh, &ref);
	if (fresh.refresh_at == 0)
		fresh.refresh_at = time(NULL); /* no stored response that is good and fresh: the stapler asks */
	time_t at = due_of(&fresh);
	if (e->busy) {
		mgr_staple_clear(&e->pend);
		free(e->pend_ca);
		e->pend = fresh;
		e->pend_ca = ca_copy;
		e->has_pend = 1;
	} else {
		mgr_staple_clear(&e->st);
		free(e->ca);
		e->st = fresh;
		e->ca = ca_copy;
		e->renew_failures = 0;
		schedule(e, at);
	}
	rc = publish_locked(e, rec, &ref);
	if (!started) {
		pthread_t t;
		mgr_publish_on_withdraw(mgr_staple_many_forget);
		started = pthread_create(&t, NULL, stapler_main, NULL) == 0;
		if (started)
			pthread_detach(t);
		else
			at_log_error("OCSP: the stapling thread could not start; on-demand and sites certificates are "
				     "stapled only with what the store holds");
	}
	pthread_mutex_unlock(&sm_mu);
	if (ref.len > 0)
		at_log_debug("OCSP: the stored response for %s is good; stapled with the certificate", name);
	return rc;
}

void mgr_staple_many_forget(const char *name)
{
	pthread_mutex_lock(&sm_mu);
	struct sm_entry *e = lookup(name);
	if (e != NULL)
		detach(e);
	pthread_mutex_unlock(&sm_mu);
}

/* One entry's work in a turn: its record as the store holds it, and its staple brought up to date (a fetch when
 * due). e is busy. */
struct work {
	struct sm_entry *e;
	struct at_cert_record rec;
	int have_rec, changed, revoked, renew;
	char why[512];
	time_t at; /* when to look again when nothing else says (0: st says) */
};

static void look(struct work *w, struct at_store *store)
{
	struct sm_entry *e = w->e;
	time_t now = time(NULL);
	memset(&w->rec, 0, sizeof(w->rec));
	int rc = at_cert_record_load(store, e->ca, e->name, &w->rec);
	w->have_rec = rc == 0;
	if (rc != 0 || chain_hash(&w->rec) != e->st.cert_hash) {
		/* The store holds another certificate than the one in service (renewed by another host, or by the
		 * publisher a moment ago: it registers it), or none readable now. Nothing asked for an old one. */
		at_log_debug("OCSP: %s's stored certificate is not the one in service (%s); looked at again later", e->name,
			     rc != 0 ? at_strerror(rc) : "another");
		w->at = now + mgr_staple_scaled(MISMATCH_S);
		return;
	}
	if (e->st.revoked) {
		w->renew = 1; /* an order after an earlier revoked answer failed: again now */
		return;
	}
	mgr_staple_update(&e->st, store, e->ca, e->name, &w->rec, &w->changed, &w->revoked, w->why, sizeof(w->why));
	w->renew = w->revoked;
}

/* The ensure step at one CA for a revoked certificate's names (mgr_ca_ensure's fn), as the on-demand thread
 * issues: the attempt record's plan, then one round. */
static int issue_at(void *ctx, struct at_engine *e, int force, struct at_cert_record *rec, int *ordered)
{
	const struct at_cert_record *old = ctx;
	const char *const *nm = (const char *const *)old->names;
	struct at_solver list[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	size_t count = 0;
	int rc = mgr_challenge_plan(e, nm, old->nnames, list, &count, &plan);
	if (rc != 0)
		return rc;
	return mgr_challenge_round(e, nm, old->nnames, list, count, &plan, force, rec, ordered);
}

/* A new certificate for the revoked one of w (its names), published like any publisher's. 0 or the error. */
static int renew(struct work *w, struct mgr_ca_list **cas, struct at_store *store)
{
	const struct at_cert_record *old = &w->rec;
	if (old->nnames == 0)
		return AT_E_INVAL;
	if (*cas == NULL) {
		struct at_engine_config ec;
		mgr_engine_base(&ec, store);
		int rc = mgr_ca_list_new(cas, &ec);
		if (rc != 0)
			return rc;
	}
	const char *const *names = (const char *const *)old->names;
	struct at_cert_record rec;
	int ordered = 0;
	size_t used = 0;
	memset(&rec, 0, sizeof(rec));
	int rc = mgr_ca_ensure(*cas, names, old->nnames, 1, issue_at, (void *)old, &rec, &ordered, &used);
	if (rc != 0) {
		struct at_engine *e = mgr_ca_list_engine(*cas, used);
		mgr_event_failed(names, old->nnames, rc, at_acme_last_problem(at_engine_acme(e)));
		return rc;
	}
	int prc = mgr_staple_publish_extra(store, at_engine_ca(mgr_ca_list_engine(*cas, used)), w->e->name, &rec);
	if (prc != 0 && prc != AT_E_STATE)
		at_log_error("OCSP: the new certificate for %s is stored but cannot be published (%s); its publisher "
			     "serves it at its next look", w->e->name, at_strerror(prc));
	else
		at_log_info("OCSP: a new certificate for %s (not after %ld) replaces the revoked one", w->e->name,
			    (long)rec.info.not_after);
	mgr_event_cert(names, old->nnames, &rec, ordered);
	at_cert_record_clear(&rec);
	return 0;
}

/* One turn: the due entries ws[0..n) (busy) looked at, what changed published in one batch, revoked ones
 * renewed, then each scheduled again. */
static void turn(struct work *ws, size_t n, struct at_store *store, struct mgr_ca_list **cas)
{
	for (size_t i = 0; i < n; i++)
		look(&ws[i], store);
	mgr_publish_batch(1);
	pthread_mutex_lock(&sm_mu);
	for (size_t i = 0; i < n; i++) {
		struct work *w = &ws[i];
		struct sm_entry *e = w->e;
		w->renew = w->renew && !e->removed && !e->has_pend; /* replaced or withdrawn meanwhile: nothing to renew */
		if (e->removed || e->has_pend || !w->changed)
			continue;
		struct mgr_staple_ref ref;
		mgr_staple_ref(&e->st, &ref);
		int rc = publish_locked(e, &w->rec, &ref);
		if (rc != 0 && rc != AT_E_STATE)
			at_log_warn("OCSP: cannot publish the staple for %s (%s); next try at its refresh", e->name,
				    at_strerror(rc));
	}
	pthread_mutex_unlock(&sm_mu);
	mgr_publish_batch(0);
	for (size_t i = 0; i < n; i++) {
		struct work *w = &ws[i];
		struct sm_entry *e = w->e;
		if (w->revoked)
			mgr_event_revoked((const char *const *)w->rec.names, w->rec.nnames, w->rec.info.not_after, w->why);
		if (w->renew) {
			long wait_s;
			if (renew(w, cas, store) == 0) {
				/* Published through mgr_staple_publish_extra: the entry has it pending. Should that
				 * publish have failed, its publisher registers it at its next look. */
				wait_s = mgr_staple_scaled(MISMATCH_S);
			} else {
				/* As after a failed fetch: 1 min doubling to an hour. */
				wait_s = mgr_staple_retry_s(e->renew_failures);
				e->renew_failures++;
				at_log_warn("OCSP: no new certificate for the revoked %s yet; next try in %ld s", e->name, wait_s);
			}
			w->at = time(NULL) + wait_s;
		}
	}
	pthread_mutex_lock(&sm_mu);
	for (size_t i = 0; i < n; i++) {
		struct work *w = &ws[i];
		struct sm_entry *e = w->e;
		e->busy = 0;
		if (e->removed) {
			entry_free(e);
		} else if (e->has_pend) {
			/* A newer certificate came while we worked: what was fetched for the old one is dropped. */
			mgr_staple_clear(&e->st);
			free(e->ca);
			e->st = e->pend;
			e->ca = e->pend_ca;
			memset(&e->pend, 0, sizeof(e->pend));
			e->pend_ca = NULL;
			e->has_pend = 0;
			e->renew_failures = 0;
			schedule(e, due_of(&e->st));
		} else {
			time_t at = w->at ? w->at : due_of(&e->st);
			schedule(e, at);
		}
		if (w->have_rec)
			at_cert_record_clear(&w->rec);
	}
	pthread_mutex_unlock(&sm_mu);
}

static void *stapler_main(void *arg)
{
	(void)arg;
	const struct shim_config *cfg = mgr_host->cfg;
	struct at_store *store = NULL;
	struct mgr_ca_list *cas = NULL;
	static struct work ws[FETCHES_PER_TURN];
	mgr_quiesce_enter();
	while (at_store_open(&store, cfg->storage, (gid_t)cfg->storage_gid) != 0) {
		at_log_error("OCSP: the stapling thread cannot open the store; trying again in a minute");
		mgr_sleep_ms(60000);
	}
	at_log_info("OCSP: stapling on-demand and sites certificates (at most %d fetches a turn)", FETCHES_PER_TURN);
	for (;;) {
		uint32_t ids[FETCHES_PER_TURN];
		time_t now = time(NULL), next = 0;
		pthread_mutex_lock(&sm_mu);
		size_t n = at_due_take(&due, now, ids, FETCHES_PER_TURN);
		for (size_t i = 0; i < n; i++) {
			memset(&ws[i], 0, sizeof(ws[i]));
			ws[i].e = ents.at[ids[i]];
			ws[i].e->busy = 1;
		}
		pthread_mutex_unlock(&sm_mu);
		if (n > 0) {
			turn(ws, n, store, &cas);
			pthread_mutex_lock(&sm_mu);
			int more = at_due_next(&due, &next) == 0 && next <= time(NULL);
			pthread_mutex_unlock(&sm_mu);
			if (more)
				mgr_sleep_ms(TURN_MS); /* the pace: FETCHES_PER_TURN a second at most */
			continue;
		}
		mgr_quiesce_leave();
		pthread_mutex_lock(&sm_mu);
		now = time(NULL);
		int have = at_due_next(&due, &next) == 0;
		if (!have || next > now) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			long wait_s = have ? (long)(next - now) : IDLE_WAIT_S;
			ts.tv_sec += wait_s > IDLE_WAIT_S ? IDLE_WAIT_S : wait_s;
			pthread_cond_timedwait(&sm_cv, &sm_mu, &ts);
		}
		pthread_mutex_unlock(&sm_mu);
		mgr_quiesce_enter();
	}
	return NULL;
}
