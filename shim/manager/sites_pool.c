/*
 * Many sites (AUTOTLS_SITES): every line of the sites file is a certificate of its own, issued, renewed, retried
 * and backed off on its own, in the tree's manager process (autotls-manager), beside the leader's certificate
 * (AUTOTLS_DOMAINS) and on-demand.
 *
 * What it owns: the site table (sites_mu), SITES_WORKERS worker threads and one watcher thread.
 *   - The watcher reads the file at start and stats it every WATCH_S seconds; when its identity, size or mtime
 *     changed it reads it again (shim/sites.c) and merges: a new line is due now, a line whose names changed is
 *     due now with a fresh backoff, a removed line stops being renewed and its certificate is withdrawn from the
 *     region at once (it stays in the store until it expires; the same line added again is served from the
 *     store without an order). A file that cannot be read keeps the sites as they were.
 *   - Each worker has its own store handle and its own engines (mgr_ca_list: one ACME client per CA, the same
 *     account through the store) and takes the due site with the earliest time (util/due_queue.h by site id:
 *     O(log n) a pick, first come first served among equal times), at most a slice (mgr_quiesce_slice: 20 ms)
 *     of sites at a time under the quiesce lock; a site is held by one worker at a time (busy), so one slow or
 *     failing site holds one worker, never the others. The issuance is the per-certificate lifecycle the
 *     leader and on-demand use: mgr_ca_ensure along AUTOTLS_CA's list, the attempt record's plan
 *     (mgr_challenge_plan/round, the engine's guard on), the store's issue lock per name set; failures back off
 *     as the leader's do (at_backoff_delay: 1 min, 10 min, 100 min, then daily, never before the attempt
 *     record's next try nor the CA's Retry-After); renewal at sites_renew_at (spread by name).
 *   - A rateLimited answer pauses new orders of every worker until its Retry-After (an hour when it gave none),
 *     said in one line naming what waits and until when; sites whose stored certificate is good are still
 *     looked at and served meanwhile.
 * Lock order: the quiesce lock (mgr_quiesce_enter), then sites_mu, then publish.c's state_mu. sites_mu is held
 * for the table only, never across the network, the store or a publish. Never runs on a server's thread.
 */
#include "shim/manager/manager.h"
#include "shim/manager/ca_list.h"
#include "shim/manager/events.h"
#include "shim/manager/staple_many.h"
#include "shim/sites.h"
#include "acme/acme.h"
#include "acme/solver.h"
#include "engine/engine.h"
#include "store/certs.h"
#include "util/clock.h"
#include "util/due_queue.h"
#include "util/id_slots.h"
#include "util/err.h"
#include "util/log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Four orders at once: an order is mostly waiting (the CA's validation, polling), so four overlap well on one
 * core; more would not go faster against Let's Encrypt, whose limit is 300 new orders per 3 hours per account
 * (the rate, not the concurrency, is the bound), and each worker's ACME client and key generation cost memory
 * and CPU in the same process that serves the tree. */
#define SITES_WORKERS 4
#define WATCH_S 2                 /* the file's stat, every WATCH_S seconds */
#define RATE_PAUSE_DEFAULT_S 3600 /* a rateLimited answer without Retry-After */

struct site {
	char **names; /* owned, names[0] the key */
	size_t nnames;
	unsigned line;
	time_t next;          /* not before */
	int failures;         /* tries failed in a row (for the backoff's step when the attempt record has none) */
	int busy;             /* a worker holds it */
	int removed;          /* gone from the file while busy: the worker withdraws and frees it */
	int changed;          /* its names changed while busy: pend replaces names when the worker is done */
	char **pend;          /* owned: the line's new names, held until the worker lets go of names */
	size_t npend;
	unsigned pend_line;
	time_t in_service;    /* notAfter of the certificate published for it, 0: none */
	uint32_t id;          /* its place in ids and its id in due, for as long as it lives */
};

static pthread_mutex_t sites_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sites_cv = PTHREAD_COND_INITIALIZER;
static struct site **table; /* sorted by key (merged with the file's sorted lines) */
static size_t ntable;
/* The sites no worker holds, by id in a due queue by next time (earliest first): a pick is O(log n), not a scan
 * of the table (which cost some 100 microseconds an order at 100,000 sites, and 10^10 steps for a restart with
 * 100,000 stored sites). Its room (and the ids') is reserved for every site that may live at once when the table
 * is made (merge), so no insertion can fail. Under sites_mu. */
static struct at_due_queue due;
static struct at_id_slots ids; /* the sites by id (util/id_slots.h) */
static time_t paused_until; /* rateLimited: no new order before */
static int first_done;      /* worker 0 made (or found) the account: the others may start */

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void site_free(struct site *s)
{
	if (s == NULL)
		return;
	names_free(s->names, s->nnames);
	names_free(s->pend, s->npend);
	free(s);
}

static int by_key(const void *a, const void *b)
{
	return strcmp((*(struct site *const *)a)->names[0], (*(struct site *const *)b)->names[0]);
}

static int line_by_key(const void *a, const void *b)
{
	return strcmp(((const struct site_line *)a)->names[0], ((const struct site_line *)b)->names[0]);
}

static int same_names(const struct site *s, const struct site_line *l)
{
	if (s->nnames != l->nnames)
		return 0;
	for (size_t i = 0; i < s->nnames; i++)
		if (strcmp(s->names[i], l->names[i]) != 0)
			return 0;
	return 1;
}

/* Takes l's names (l emptied). s is not busy: no worker reads its names. */
static void take_names(struct site *s, struct site_line *l)
{
	names_free(s->names, s->nnames);
	s->names = l->names;
	s->nnames = l->nnames;
	s->line = l->line;
	l->names = NULL;
	l->nnames = 0;
}

/* Room for want sites alive at once (their ids, their places in due): 0 or AT_E_NOMEM. */
static int reserve(size_t want)
{
	int rc = at_id_slots_reserve(&ids, want);
	if (rc != 0)
		return rc;
	return at_due_reserve(&due, ids.n);
}

/* An id for s (room reserved by merge). */
static void id_take(struct site *s)
{
	s->id = at_id_slots_take_reserved(&ids, s);
}

/* s's id back, s out of due. */
static void id_release(struct site *s)
{
	at_due_remove(&due, s->id);
	at_id_slots_put(&ids, s->id);
}

/* s (not busy) into due at s->next, or moved there. Room reserved by merge: it cannot fail. */
static void due_put(struct site *s)
{
	if (at_due_set(&due, s->id, s->next) != 0)
		at_log_error("sites: %s could not be scheduled (no room reserved); it waits until the file changes",
			     s->names[0]);
}

static void withdraw(const char *key)
{
	if (mgr_withdraw_extra(key) != 0)
		at_log_warn("sites: %s was removed but its certificate could not be withdrawn from the region now", key);
}

/* Merges the file's lines into the table (see the top). Caller holds the quiesce lock, not sites_mu. */
static void merge(struct sites *f)
{
	qsort(f->v, f->n, sizeof(f->v[0]), line_by_key);
	struct site **nt = calloc(f->n ? f->n : 1, sizeof(*nt));
	char **gone = NULL; /* keys to withdraw once sites_mu is released */
	size_t ngone = 0, nadded = 0, nchanged = 0, nremoved = 0;
	if (nt == NULL) {
		at_log_error("sites: out of memory reading the sites file; the sites are kept as they were");
		return;
	}
	pthread_mutex_lock(&sites_mu);
	gone = calloc(ntable ? ntable : 1, sizeof(*gone));
	/* Room for every site that may live meanwhile: those alive now (the table's, and removed ones a worker still
	 * holds) and the new lines. */
	if (gone == NULL || reserve(at_id_slots_used(&ids) + f->n) != 0) {
		at_log_error("sites: out of memory reading the sites file; the sites are kept as they were");
		pthread_mutex_unlock(&sites_mu);
		free(gone);
		free(nt);
		return;
	}
	time_t now = time(NULL);
	size_t i = 0, j = 0, n = 0;
	while (i < ntable || j < f->n) {
		int c = i == ntable ? 1 : j == f->n ? -1 : strcmp(table[i]->names[0], f->v[j].names[0]);
		if (c < 0) { /* removed */
			struct site *s = table[i++];
			nremoved++;
			if (s->busy) {
				s->removed = 1; /* its worker withdraws and frees it */
			} else {
				id_release(s);
				gone[ngone++] = s->names[0];
				s->names[0] = NULL;
				site_free(s);
			}
		} else if (c > 0) { /* added */
			struct site *s = calloc(1, sizeof(*s));
			if (s == NULL) {
				/* This line only is left out (read again when the file changes); the other lines, old
				 * and new, are carried over: an old one left out of the table would stay in due. */
				at_log_error("sites: out of memory for %s (line %u); left out until the file changes",
					     f->v[j].names[0], f->v[j].line);
				j++;
				continue;
			}
			take_names(s, &f->v[j++]);
			s->next = now;
			id_take(s);
			due_put(s);
			nt[n++] = s;
			nadded++;
		} else {
			struct site *s = table[i++];
			struct site_line *l = &f->v[j++];
			if (s->busy) {
				/* Its worker reads names without the lock: the new ones wait in pend (a later edit
				 * replaces them there) and take effect when the worker is done. */
				if (!same_names(s, l) || s->changed) {
					names_free(s->pend, s->npend);
					s->pend = l->names;
					s->npend = l->nnames;
					s->pend_line = l->line;
					l->names = NULL;
					l->nnames = 0;
					s->changed = 1;
					nchanged++;
				}
			} else if (!same_names(s, l)) {
				take_names(s, l);
				s->next = now;
				s->failures = 0;
				due_put(s);
				nchanged++;
			} else {
				s->line = l->line;
			}
			nt[n++] = s;
		}
	}
	free(table);
	table = nt;
	ntable = n;
	pthread_cond_broadcast(&sites_cv);
	pthread_mutex_unlock(&sites_mu);
	at_log_info("sites: %zu certificate(s) from the file (%zu new, %zu changed, %zu removed)", n, nadded, nchanged,
		    nremoved);
	for (size_t k = 0; k < ngone; k++) {
		withdraw(gone[k]);
		at_log_info("sites: %s was removed from the file: no longer renewed, withdrawn from service (kept in "
			    "the store until it expires)", gone[k]);
		free(gone[k]);
	}
	free(gone);
}

static void reload(void)
{
	const struct shim_config *cfg = mgr_host->cfg;
	struct sites f;
	if (sites_read(&f, cfg->sites, cfg->profile, (const char *const *)cfg->domains, cfg->ndomains) != 0)
		return;
	merge(&f);
	sites_clear(&f);
}

/* The ensure step at one CA (mgr_ca_ensure's fn): the attempt record's plan and one round, as the leader does. */
static int ensure_at(void *ctx, struct at_engine *e, int force, struct at_cert_record *rec, int *ordered)
{
	const struct site *s = ctx;
	const char *const *names = (const char *const *)s->names;
	struct at_solver list[AT_CHALLENGE_COUNT], use[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	size_t n = 0;
	int rc = mgr_challenge_plan(e, names, s->nnames, list, &n, &plan);
	if (rc != 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		if (mgr_solver_needs_host(&list[k]))
			mgr_solver_when_ready(&use[k], &list[k]);
		else
			use[k] = list[k];
	}
	return mgr_challenge_round(e, names, s->nnames, use, n, &plan, force, rec, ordered);
}

static int is_rate_limited(int rc, const struct at_problem *p)
{
	return rc == AT_E_RATELIMITED || (p->type != NULL && strstr(p->type, ":rateLimited") != NULL);
}

/* The earliest due site, marked busy, with a private copy of it in *mine (names borrowed until done()). NULL
 * when none is due; *wait_s then says how long until one is (capped). Caller holds sites_mu. */
static struct site *pick(time_t now, long *wait_s)
{
	time_t soonest = now + 3600, next;
	if (at_due_next(&due, &next) == 0 && next < soonest)
		soonest = next;
	*wait_s = soonest > now ? (long)(soonest - now) : 1;
	uint32_t id;
	if (at_due_take(&due, now, &id, 1) == 0)
		return NULL;
	struct site *best = ids.at[id];
	best->busy = 1;
	return best;
}

/* One issuance (or the stored certificate found good) for s, its schedule after. Caller holds the quiesce lock,
 * not sites_mu; s is busy, so its names do not change under us. */
static void run_one(struct mgr_ca_list *cas, struct at_store *st, struct site *s, int *may_order)
{
	const struct shim_config *cfg = mgr_host->cfg;
	const char *const *names = (const char *const *)s->names;
	struct at_cert_record rec;
	memset(&rec, 0, sizeof(rec));
	int ordered = 0;
	size_t ca = 0;
	time_t now = time(NULL);
	/* While new orders are paused, only a stored certificate that is good is taken: the engine's plan is
	 * asked with nothing allowed (force 0 and no order: at_engine_record_current decides). */
	int rc;
	if (!*may_order) {
		rc = AT_E_BACKOFF;
		for (size_t i = 0; i < mgr_ca_list_count(cas) && rc != 0; i++) {
			char comp[256];
			struct at_engine *e = mgr_ca_list_engine(cas, i);
			snprintf(comp, sizeof(comp), "%s", at_engine_ca(e));
			if (at_cert_record_load(st, comp, names[0], &rec) == 0 &&
			    at_engine_record_current(&rec, names, s->nnames, now))
				rc = 0, ca = i;
			else
				at_cert_record_clear(&rec);
		}
	} else {
		rc = mgr_ca_ensure(cas, names, s->nnames, 0, ensure_at, s, &rec, &ordered, &ca);
	}
	now = time(NULL);
	time_t next;
	if (rc == 0) {
		int prc = mgr_staple_publish_extra(st, at_engine_ca(mgr_ca_list_engine(cas, ca)), names[0], &rec);
		if (prc == 0 || prc == AT_E_STATE) {
			if (ordered || s->in_service != rec.info.not_after)
				at_log_info("sites: %s (line %u, %zu name(s)) %s, served; not after %ld", names[0], s->line,
					    s->nnames, ordered ? "issued" : "found in the store", (long)rec.info.not_after);
			s->in_service = rec.info.not_after;
			s->failures = 0;
			next = sites_renew_at(names[0], rec.info.not_before, rec.info.not_after);
			if (next <= now)
				next = now + 1;
		} else {
			next = now + at_backoff_delay(s->failures++, now, s->in_service, -1, cfg->backoff_divisor);
			at_log_error("sites: %s is stored but cannot be published (%s); next try in %ld s", names[0],
				     at_strerror(prc), (long)(next - now));
		}
		mgr_event_cert(names, s->nnames, &rec, ordered);
		at_cert_record_clear(&rec);
	} else if (!*may_order) {
		pthread_mutex_lock(&sites_mu);
		next = paused_until > now ? paused_until : now + 1;
		pthread_mutex_unlock(&sites_mu);
	} else {
		struct at_engine *e = mgr_ca_list_engine(cas, ca);
		const struct at_problem *p = at_acme_last_problem(at_engine_acme(e));
		long wait_s = at_backoff_delay(s->failures, now, s->in_service, p->retry_after, cfg->backoff_divisor);
		struct at_solver list[AT_CHALLENGE_COUNT];
		struct at_attempt_plan plan;
		size_t n = 0;
		if (mgr_challenge_plan(e, names, s->nnames, list, &n, &plan) == 0 && !plan.now_ok &&
		    plan.next_try - now > wait_s)
			wait_s = (long)(plan.next_try - now); /* the persistent attempt record (issue 15) */
		if (wait_s < 1)
			wait_s = 1;
		s->failures++;
		next = now + wait_s;
		if (is_rate_limited(rc, p)) {
			long pause = p->retry_after > 0 ? p->retry_after : RATE_PAUSE_DEFAULT_S;
			pthread_mutex_lock(&sites_mu);
			int fresh = paused_until < now + pause;
			if (fresh)
				paused_until = now + pause;
			size_t waiting = 0;
			for (size_t i = 0; i < ntable; i++)
				waiting += table[i]->busy || table[i]->next <= paused_until;
			pthread_mutex_unlock(&sites_mu);
			if (fresh) {
				char when[32];
				struct tm tm;
				time_t until = now + pause;
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&until, &tm));
				at_log_warn("sites: the CA limits new orders (rateLimited, at %s); no new order for any site "
					    "until %s (%ld s): %zu site(s) wait, served ones stay served", names[0], when,
					    pause, waiting);
			}
			/* Not this site's failure: it comes back when the pause ends, with its backoff unchanged. */
			s->failures--;
			next = now + pause;
		} else if (rc == AT_E_BACKOFF) {
			at_log_info("sites: no new order for %s (line %u) yet (its attempt record); next try in %ld s",
				    names[0], s->line, (long)(next - now));
		} else {
			at_log_error("sites: %s (line %u) failed: %s%s%s%s; try %d in %ld s (backoff: 1 min, 10 min, "
				     "100 min, then daily)", names[0], s->line, at_strerror(rc), p->type ? " (" : "",
				     p->type ? at_problem_short_type(p) : "", p->type ? ")" : "", s->failures + 1,
				     (long)(next - now));
			if (p->detail)
				at_log_error("sites: the CA said about %s: %s", names[0], p->detail);
		}
		if (rc != AT_E_BACKOFF)
			mgr_event_failed(names, s->nnames, rc, p);
	}
	pthread_mutex_lock(&sites_mu);
	s->busy = 0;
	s->next = next;
	if (s->changed) {
		names_free(s->names, s->nnames);
		s->names = s->pend;
		s->nnames = s->npend;
		s->line = s->pend_line;
		s->pend = NULL;
		s->npend = 0;
		s->changed = 0;
		s->failures = 0;
		s->next = now;
	}
	int removed = s->removed, again = 0;
	if (removed) {
		/* Added back while we worked: that entry serves the key; it looks again now instead of withdrawing. */
		struct site key = { .names = s->names }, *kp = &key;
		struct site **back = bsearch(&kp, table, ntable, sizeof(*table), by_key);
		if (back != NULL) {
			(*back)->next = now;
			if (!(*back)->busy)
				due_put(*back); /* a busy one is scheduled by its worker when done */
			again = 1;
		}
		id_release(s);
	} else {
		due_put(s);
	}
	pthread_mutex_unlock(&sites_mu);
	if (removed) {
		if (!again) {
			withdraw(s->names[0]);
			at_log_info("sites: %s was removed from the file: no longer renewed, withdrawn from service",
				    s->names[0]);
		}
		site_free(s);
	}
}

static void *worker_main(void *arg)
{
	long id = (long)(intptr_t)arg;
	const struct shim_config *cfg = mgr_host->cfg;
	struct at_store *st = NULL;
	struct mgr_ca_list *cas = NULL;
	mgr_quiesce_enter();
	if (at_store_open_file_shared(&st, cfg->storage, (gid_t)cfg->storage_gid) != 0)
		goto out;
	struct at_engine_config ec;
	mgr_engine_base(&ec, st);
	if (mgr_ca_list_new(&cas, &ec) != 0)
		goto out;
	long slice_at = at_clock_ms();
	for (;;) {
		pthread_mutex_lock(&sites_mu);
		time_t now = time(NULL);
		long wait_s = 1;
		/* Worker 0 goes first: the account is made once, not by four workers at once. */
		struct site *s = id == 0 || first_done ? pick(now, &wait_s) : NULL;
		int may_order = paused_until <= now;
		pthread_mutex_unlock(&sites_mu);
		if (s != NULL) {
			mgr_quiesce_slice(&slice_at); /* at most a slice of sites in a row (quiesce.c) */
			run_one(cas, st, s, &may_order);
			if (id == 0 && !first_done) {
				pthread_mutex_lock(&sites_mu);
				first_done = 1;
				pthread_cond_broadcast(&sites_cv);
				pthread_mutex_unlock(&sites_mu);
			}
			continue;
		}
		mgr_quiesce_leave();
		pthread_mutex_lock(&sites_mu);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_s > 5 ? 5 : wait_s;
		pthread_cond_timedwait(&sites_cv, &sites_mu, &ts);
		pthread_mutex_unlock(&sites_mu);
		mgr_quiesce_enter();
		slice_at = at_clock_ms();
	}
out:
	at_log_error("sites: worker %ld could not start (the store or the CA settings)", id);
	pthread_mutex_lock(&sites_mu);
	first_done = 1; /* the others do not wait for a worker that is gone */
	pthread_cond_broadcast(&sites_cv);
	pthread_mutex_unlock(&sites_mu);
	mgr_ca_list_free(cas);
	at_store_close(st);
	mgr_quiesce_leave();
	return NULL;
}

static void *watch_main(void *arg)
{
	(void)arg;
	const char *path = mgr_host->cfg->sites;
	struct stat last;
	memset(&last, 0, sizeof(last));
	int have = 0;
	for (;;) {
		struct stat st;
		int ok = stat(path, &st) == 0;
		if (!have || (ok && (st.st_ino != last.st_ino || st.st_dev != last.st_dev || st.st_size != last.st_size ||
				     st.st_mtim.tv_sec != last.st_mtim.tv_sec ||
				     st.st_mtim.tv_nsec != last.st_mtim.tv_nsec))) {
			mgr_quiesce_enter();
			reload();
			mgr_quiesce_leave();
			have = 1;
			if (ok)
				last = st;
		}
		struct timespec ts = { .tv_sec = WATCH_S, .tv_nsec = 0 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int mgr_sites_start(void)
{
	if (mgr_host->cfg->sites == NULL)
		return 0;
	/* The pool keeps its sites in a folder store (its workers open one); on etcd it would issue nothing. */
	if (at_store_is_remote(mgr_host->cfg->storage)) {
		at_log_error("AUTOTLS_SITES=%s is not served: a sites file needs a folder store, and AUTOTLS_STORAGE is "
			     "etcd (%s); list the names in AUTOTLS_DOMAINS, or run the sites on a host with a folder "
			     "AUTOTLS_STORAGE", mgr_host->cfg->sites, mgr_host->cfg->storage);
		return 0;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, watch_main, NULL) != 0)
		return AT_E_NOMEM;
	pthread_detach(t);
	for (long i = 0; i < SITES_WORKERS; i++) {
		if (pthread_create(&t, NULL, worker_main, (void *)(intptr_t)i) != 0)
			return AT_E_NOMEM;
		pthread_detach(t);
	}
	at_log_info("sites: watching %s (every %d s), %d orders at once at most", mgr_host->cfg->sites, WATCH_S,
		    SITES_WORKERS);
	return 0;
}
