/*
 * On-demand issuance, the manager side (the handshake side is shim/preload/ondemand.c). One thread in the
 * tree's manager process takes the names handshakes posted, and for each:
 *   - checks it again against the policy's syntax and allowlist (ondemand_qualifies): any process of the
 *     server, a worker as www-data included, can write into the request ring, so a name from it is untrusted;
 *   - skips it while it is issued, pending, refused (10 min) or backing off after a failure (1 min doubling to
 *     an hour, never before the CA's Retry-After or the next try the engine's attempt record allows): refused and failed names are forgotten oldest first beyond FORGET_MAX, issued and queued ones
 *     never (the table grows: an issued name must not drop out of renewal however many names are refused);
 *   - asks AUTOTLS_ASK (GET <url>?domain=<name>, 2 s, no redirects; 2xx allows) once per refusal period;
 *   - takes a token from a bucket (AUTOTLS_ON_DEMAND_RATE a minute, 10 by default, twice that at once) or waits for one, so that a burst of new
 *     names cannot run into the CA's limits; names that find no room in the queue are dropped (a later
 *     handshake asks again);
 *   - issues under the store's per-name lock through the challenge types the attempt record allows now (the
 *     engine's guard refuses the others: a failed validation counts against the CA's hourly limit), and
 *     publishes the certificate beside the managed one; an unchanged certificate is not published again, and one
 *     that cannot be published is logged and tried again with the same backoff as a failed order.
 * At start it serves the on-demand certificates the store already holds, and it renews them when due.
 * It holds the quiesce lock like the leader's thread (the two take turns during network waits).
 */
#include "shim/manager/manager.h"
#include "shim/manager/ca_list.h"
#include "shim/manager/events.h"
#include "shim/manager/ondemand_asked.h"
#include "shim/manager/staple_many.h"
#include "shim/ondemand_idle.h"
#include "shim/ondemand_policy.h"
#include "acme/solver.h"
#include "engine/engine.h"
#include "store/certs.h"
#include "store/name.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/name_index.h"

#include <curl/curl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FORGET_MAX 4096 /* refused and failed names remembered (the oldest forgotten first) */
#define NAMES_MIN 64
#define QUEUE 256
#define REFUSED_S 600
#define RENEW_CHECK_S 60 /* how often issued names are looked at for renewal (divided by the tests' scale) */

/* OD_IDLE: issued, but no handshake asked for it in AUTOTLS_ON_DEMAND_IDLE days: not renewed (served until it
 * expires); a touch makes it OD_ISSUED again, a request after its expiry asks for it anew. */
enum od_state { OD_EMPTY = 0, OD_QUEUED, OD_ISSUED, OD_REFUSED, OD_FAILED, OD_IDLE };

struct od_name {
	char *name; /* owned (a pointer, not 256 bytes: the table holds every name issued, 100,000 of them) */
	enum od_state state;
	time_t until;    /* refused/failed: not before; issued: when to look at renewal */
	long backoff_s;
	time_t touched; /* the last request or touch (shim/ondemand_idle.h); the idle rule's clock */
	time_t published_not_after; /* of the certificate last published for it; 0: none yet */
};

static struct od_name *names; /* owned, grows (never shrinks) */
static size_t nnames;
static char queue[QUEUE][256];
static size_t qhead, qlen;
static double tokens = -1; /* -1: the bucket starts full at the first take */
static time_t tokens_at;

static long renew_check_s(void)
{
	long d = mgr_host->cfg->backoff_divisor, v = RENEW_CHECK_S / (d > 0 ? d : 1);
	return v > 0 ? v : 1;
}

static int forgettable(const struct od_name *n)
{
	return n->state == OD_REFUSED || n->state == OD_FAILED;
}

/* The names' index over names[] by name (util/name_index.h), so that finding a name does not grow with how many
 * there are (100,000 stored certificates are loaded at start, each found once). */
static struct at_name_index nix;
static size_t nused; /* names[0..nused) have been taken; the rest are empty */

static const char *name_at(const void *arg, size_t pos)
{
	(void)arg;
	return names[pos].name;
}

/* The entry for name; with create, a new one when there is none (NULL only when memory runs out). A new entry
 * takes an empty slot, else the least recently seen refused or failed name once FORGET_MAX of them are kept,
 * else a slot the table grows by. */
static struct od_name *find(const char *name, int create)
{
	int found;
	if (at_name_index_full(&nix) && at_name_index_rebuild(&nix, nused + 1, nused, name_at, NULL) != 0)
		return NULL;
	size_t k = at_name_index_find(&nix, name, name_at, NULL, &found);
	if (found)
		return &names[at_name_index_pos(&nix, k)];
	if (!create)
		return NULL;
	struct od_name *slot = NULL;
	if (nused == nnames) {
		/* Full: forget the oldest refused or failed name once FORGET_MAX are kept (a scan, only when full). */
		struct od_name *oldest = NULL;
		size_t nforget = 0;
		for (size_t i = 0; i < nnames; i++) {
			struct od_name *n = &names[i];
			if (forgettable(n)) {
				nforget++;
				if (oldest == NULL || n->touched < oldest->touched)
					oldest = n;
			}
		}
		if (nforget >= FORGET_MAX) {
			slot = oldest;
			at_name_index_forget(&nix, oldest->name, name_at, NULL);
			k = at_name_index_find(&nix, name, name_at, NULL, &found);
		}
	}
	if (slot == NULL && nused == nnames) {
		size_t nc = nnames ? nnames * 2 : NAMES_MIN;
		struct od_name *nv = realloc(names, nc * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		memset(nv + nnames, 0, (nc - nnames) * sizeof(*nv));
		names = nv;
		nnames = nc;
	}
	char *copy = strdup(name);
	if (copy == NULL)
		return NULL;
	if (slot == NULL)
		slot = &names[nused++];
	free(slot->name);
	memset(slot, 0, sizeof(*slot));
	slot->name = copy;
	at_name_index_put(&nix, k, (size_t)(slot - names));
	return slot;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

/* The ask URL's answer: 1 allow, 0 refuse, -1 could not ask (treated as a refusal, retried later). */
static int ask(const char *name)
{
	const char *url = mgr_host->cfg->ask;
	if (url == NULL)
		return 1;
	CURL *c = curl_easy_init();
	if (c == NULL)
		return -1;
	char *full = NULL;
	char *esc = curl_easy_escape(c, name, 0);
	long status = 0;
	if (esc && asprintf(&full, "%s%sdomain=%s", url, strchr(url, '?') ? "&" : "?", esc) > 0) {
		curl_easy_setopt(c, CURLOPT_URL, full);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)65536);
		/* The answer is the status; the body is not ours to keep. */
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		mgr_quiesce_leave();
		CURLcode rc = curl_easy_perform(c);
		mgr_quiesce_enter();
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		else
			status = -1;
	}
	free(full);
	curl_free(esc);
	curl_easy_cleanup(c);
	if (status < 0) {
		at_log_warn("on-demand: the ask URL did not answer for %s; refusing it for now", name);
		return -1;
	}
	return status >= 200 && status <= 299;
}

static int take_token(void)
{
	time_t now = time(NULL);
	long rate = mgr_host->cfg->on_demand_rate > 0 ? mgr_host->cfg->on_demand_rate : 10;
	double burst = 2.0 * (double)rate;
	if (tokens_at == 0)
		tokens_at = now;
	if (tokens < 0)
		tokens = burst;
	tokens += (double)(now - tokens_at) * (double)rate / 60.0;
	tokens_at = now;
	if (tokens > burst)
		tokens = burst;
	if (tokens < 1)
		return 0;
	tokens -= 1;
	return 1;
}

/* Publishes n's certificate (from CA ca, a store component) unless it is the one already published, with its OCSP
 * staple (staple_many.c). 0, or the publish's error (logged). */
static int publish(struct at_store *st, struct od_name *n, const struct at_cert_record *rec, const char *ca)
{
	if (n->published_not_after == rec->info.not_after)
		return 0;
	int rc = mgr_staple_publish_extra(st, ca, n->name, rec);
	if (rc == AT_E_STATE)
		rc = 0; /* the region already holds exactly this certificate */
	else if (rc == 0)
		at_log_info("published the on-demand certificate for %s (not after %ld)", n->name,
			    (long)rec->info.not_after);
	else
		at_log_error("on-demand: the certificate for %s is stored but cannot be published (%s); it is not "
			     "served until a later try succeeds", n->name, at_strerror(rc));
	if (rc == 0)
		n->published_not_after = rec->info.not_after;
	return rc;
}

/* The next try after a failure: 1 min doubling to an hour, but never before the CA's Retry-After (on-demand
 * honours it as the leader does) nor before the engine's attempt record allows (plan_next, 0: no limit). */
static void back_off(struct od_name *n, time_t now, long retry_after, time_t plan_next)
{
	n->backoff_s = n->backoff_s ? (n->backoff_s * 2 > 3600 ? 3600 : n->backoff_s * 2) : 60;
	n->until = now + n->backoff_s;
	if (retry_after > 0 && now + retry_after > n->until)
		n->until = now + retry_after;
	if (plan_next > n->until)
		n->until = plan_next;
}

/*
 * One name at one CA of AUTOTLS_CA's list (mgr_ca_ensure's step), through the types that CA's attempt record
 * allows now, in its order (the type that last worked first), falling back only as at_engine_fallback says. When
 * nothing may be tried now, the engine is asked once with every type: a stored certificate that is good comes
 * back, else AT_E_BACKOFF (its guard).
 */
static int issue_at(void *ctx, struct at_engine *e, int force, struct at_cert_record *rec, int *ordered)
{
	const char *nm[] = { ctx };
	struct at_solver list[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	size_t count = 0;
	int rc = mgr_challenge_plan(e, nm, 1, list, &count, &plan);
	if (rc != 0)
		return rc;
	return mgr_challenge_round(e, nm, 1, list, count, &plan, force, rec, ordered);
}

static void issue(struct mgr_ca_list *cas, struct at_store *st, struct od_name *n)
{
	const char *nm[] = { n->name };
	struct at_cert_record rec;
	int ordered = 0;
	size_t ca = 0;
	int rc = mgr_ca_ensure(cas, nm, 1, 0, issue_at, n->name, &rec, &ordered, &ca);
	time_t now = time(NULL);
	if (rc == 0) {
		/* Issued (and stored) either way; a publish that failed is tried again by the renewal sweep. */
		n->state = OD_ISSUED;
		if (publish(st, n, &rec, at_engine_ca(mgr_ca_list_engine(cas, ca))) == 0) {
			n->until = now + renew_check_s();
			n->backoff_s = 0;
		} else {
			back_off(n, now, -1, 0);
		}
		mgr_event_cert(nm, 1, &rec, ordered);
		at_cert_record_clear(&rec);
		return;
	}
	/* The CA tried last tells when to come back: its Retry-After and its attempt record. */
	struct at_engine *e = mgr_ca_list_engine(cas, ca);
	const struct at_problem *p = at_acme_last_problem(at_engine_acme(e));
	struct at_solver list[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	size_t count = 0;
	time_t plan_next = 0;
	if (mgr_challenge_plan(e, nm, 1, list, &count, &plan) == 0 && !plan.now_ok)
		plan_next = plan.next_try;
	n->state = OD_FAILED;
	mgr_event_failed(nm, 1, rc, p);
	back_off(n, now, p->retry_after, plan_next);
	if (rc == AT_E_BACKOFF)
		at_log_info("on-demand: no new order for %s yet (its attempt record); next try after %ld s", n->name,
			    (long)(n->until - now));
	else
		at_log_warn("on-demand: obtaining a certificate for %s failed (%s); next try after %ld s", n->name,
			    at_strerror(rc), (long)(n->until - now));
}

static int asked_dirty; /* a touched time changed since the last save (ondemand_asked.c) */

/* A touch (shim/ondemand_idle.h): a handshake was served name's certificate. Only a name issued here counts:
 * the ring is untrusted, and a touch never asks for a certificate. */
static void touch(const char *name, time_t now)
{
	struct od_name *n = find(name, 0);
	if (n == NULL || (n->state != OD_ISSUED && n->state != OD_IDLE))
		return;
	if (n->touched != now)
		asked_dirty = 1;
	n->touched = now;
	if (n->state == OD_IDLE) {
		n->state = OD_ISSUED;
		n->until = now; /* looked at for renewal at the next sweep */
		at_log_info("on-demand: %s is asked for again: renewed as before", name);
	}
}

/* A posted name: through the policy into the queue. */
static void consider(const char *name)
{
	time_t now = time(NULL);
	if (name[0] == ONDEMAND_TOUCH_MARK) {
		touch(name + 1, now);
		return;
	}
	if (!ondemand_qualifies(mgr_host->cfg, name)) {
		at_log_debug("on-demand: a request outside the policy was ignored");
		return;
	}
	struct od_name *n = find(name, 1);
	if (n == NULL)
		return;
	if (n->touched != now)
		asked_dirty = 1;
	n->touched = now;
	if (n->state == OD_IDLE)
		n->state = OD_EMPTY; /* expired and asked for again (a served one sends touches): as a new name */
	if (n->state == OD_QUEUED || n->state == OD_ISSUED ||
	    ((n->state == OD_REFUSED || n->state == OD_FAILED) && now < n->until))
		return;
	if (n->state != OD_FAILED) {
		int a = ask(name);
		if (a != 1) {
			n->state = OD_REFUSED;
			n->until = now + (a == 0 ? REFUSED_S : 60);
			if (a == 0)
				at_log_info("on-demand: the ask URL refused %s", name);
			return;
		}
	}
	if (qlen == QUEUE)
		return; /* a later handshake asks again */
	snprintf(queue[(qhead + qlen++) % QUEUE], 256, "%s", name);
	n->state = OD_QUEUED;
}

/* The store's on-demand records (every live record but the managed certificate's). */
static void load_stored(struct at_engine *e, struct at_store *st)
{
	/* Every CA of the list keeps its own records; each is looked at (an expired one is skipped). */
	const struct shim_config *cfg = mgr_host->cfg;
	char prefix[300], ca[256];
	char **keys = NULL;
	size_t n = 0;
	snprintf(ca, sizeof(ca), "%s", at_engine_ca(e));
	snprintf(prefix, sizeof(prefix), "certificates/%s/", ca);
	/* A listing is I/O (a readdir and a stat a name: seconds for 100,000 names): not under the quiesce lock,
	 * which the leader's first certificate waits for. */
	mgr_quiesce_leave();
	int rc = at_store_list(st, prefix, &keys, &n);
	mgr_quiesce_enter();
	if (rc != 0) {
		at_log_error("on-demand: the stored certificates under %s cannot be listed (%s); they are loaded when "
			     "a handshake asks for them", prefix, at_strerror(rc));
		return;
	}
	mgr_publish_batch(1);
	long slice_at = at_clock_ms();
	for (size_t i = 0; i < n; i++) {
		/* Thousands of stored names take seconds (minutes under a sanitizer): the quiesce lock is let go
		 * between slices, or the leader's ACME requests, which need it to make progress, time out meanwhile. */
		mgr_quiesce_slice(&slice_at);
		const char *comp = keys[i] + strlen(prefix);
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(comp, "/"), comp);
		char managed[AT_NAME_MAX + 1];
		if (cfg->ndomains > 0 && at_name_to_component(managed, cfg->domains[0]) == 0 &&
		    strcmp(managed, name) == 0)
			continue;
		struct at_cert_record rec;
		memset(&rec, 0, sizeof(rec));
		if (at_cert_record_load(st, ca, name, &rec) != 0)
			continue;
		struct od_name *o = NULL;
		if (rec.nnames == 1 && rec.info.not_after > time(NULL) && (o = find(rec.names[0], 1)) != NULL &&
		    o->published_not_after < rec.info.not_after) {
			o->state = OD_ISSUED;
			o->touched = time(NULL);
			if (publish(st, o, &rec, ca) == 0)
				o->until = time(NULL) + renew_check_s();
			else
				back_off(o, time(NULL), -1, 0);
		}
		at_cert_record_clear(&rec);
	}
	mgr_publish_batch(0);
	at_store_list_free(keys, n);
}

/* A stored "asked at" time (ondemand_asked.c): the later of it and ours counts. */
static void asked_at(void *ctx, const char *name, time_t at)
{
	(void)ctx;
	struct od_name *n = find(name, 0);
	if (n == NULL || (n->state != OD_ISSUED && n->state != OD_IDLE))
		return;
	if (*(int *)ctx) /* at start: the store's word replaces the load's "now" */
		n->touched = at;
	else if (at > n->touched)
		n->touched = at;
}

/* The idle rule's sweep part (shim/ondemand_idle.h): an issued name nobody asked for in idle_s is not renewed
 * any more. Returns 1 when n is now idle. */
static int went_idle(struct od_name *n, time_t now, long idle_s)
{
	if (idle_s <= 0 || n->state != OD_ISSUED || now - n->touched < idle_s)
		return 0;
	n->state = OD_IDLE;
	at_log_info("on-demand: no handshake asked for %s in %ld s (AUTOTLS_ON_DEMAND_IDLE): it is not renewed; "
		    "served until it expires (not after %ld)", n->name, (long)(now - n->touched),
		    (long)n->published_not_after);
	return 1;
}

/* Saves the asked times of the issued names, merged with the store's (another tree may share it). */
static void asked_save(struct at_store *st)
{
	int start = 0;
	if (od_asked_load(st, asked_at, &start) != 0)
		return;
	const char **nv = malloc((nused ? nused : 1) * sizeof(*nv));
	time_t *tv = malloc((nused ? nused : 1) * sizeof(*tv));
	size_t k = 0;
	for (size_t i = 0; nv && tv && i < nused; i++) {
		if (names[i].state == OD_ISSUED || names[i].state == OD_IDLE) {
			nv[k] = names[i].name;
			tv[k++] = names[i].touched;
		}
	}
	int rc = nv && tv ? od_asked_save(st, nv, tv, k) : AT_E_NOMEM;
	free(nv);
	free(tv);
	if (rc != 0)
		at_log_warn("on-demand: when names were last asked for cannot be kept in the store (%s); the idle rule "
			    "counts from this start after a restart", at_strerror(rc));
	else
		asked_dirty = 0;
}

static void *ondemand_main(void *arg)
{
	(void)arg;
	const struct shim_config *cfg = mgr_host->cfg;
	struct shm_channel *ch = mgr_host->chan;
	struct at_store *st = NULL;
	struct mgr_ca_list *cas = NULL;
	mgr_quiesce_enter();
	if (at_store_open(&st, cfg->storage, (gid_t)cfg->storage_gid) != 0)
		goto out;
	struct at_engine_config ec;
	mgr_engine_base(&ec, st);
	if (mgr_ca_list_new(&cas, &ec) != 0)
		goto out;
	for (size_t i = 0; i < mgr_ca_list_count(cas); i++)
		load_stored(mgr_ca_list_engine(cas, i), st);
	int start = 1;
	if (od_asked_load(st, asked_at, &start) != 0)
		at_log_warn("on-demand: when names were last asked for cannot be read from the store; counted from now");
	long idle_s = ondemand_idle_s(cfg);
	time_t last_save = time(NULL);
	at_log_info("on-demand issuance is on (%s%s%s)", cfg->nallow ? "AUTOTLS_ALLOW" : "",
		    cfg->nallow && cfg->ask ? " and " : "", cfg->ask ? "AUTOTLS_ASK" : "");
	time_t last_renew_check = time(NULL);
	for (;;) {
		uint32_t seen = atomic_load(&ch->req_futex);
		char name[256];
		/* At most one pass over the ring per wake: a worker posting without end cannot keep this thread
		 * from its queue and renewals. */
		for (int i = 0; i < CHAN_REQ_SLOTS && chan_take_request(ch, name) == 0; i++)
			consider(name);
		while (qlen > 0 && take_token()) {
			char nm[256];
			snprintf(nm, sizeof(nm), "%s", queue[qhead]);
			qhead = (qhead + 1) % QUEUE;
			qlen--;
			struct od_name *n = find(nm, 1);
			if (n != NULL)
				issue(cas, st, n);
		}
		if (time(NULL) - last_renew_check >= renew_check_s()) {
			/* Renewal: ensure() orders only when a stored certificate is due. */
			last_renew_check = time(NULL);
			for (size_t i = 0; i < nnames; i++)
				if (names[i].state == OD_ISSUED && names[i].until <= last_renew_check &&
				    !went_idle(&names[i], last_renew_check, idle_s))
					issue(cas, st, &names[i]);
		}
		if (asked_dirty && idle_s > 0 && time(NULL) - last_save >= ondemand_touch_s(cfg)) {
			last_save = time(NULL);
			/* Store I/O (4 MB at 100,000 names), not under the lock the leader's requests need; the table
			 * is this thread's alone. */
			mgr_quiesce_leave();
			asked_save(st);
			mgr_quiesce_enter();
		}
		mgr_event_tick();
		mgr_quiesce_leave();
		struct timespec ts = { .tv_sec = qlen > 0 ? 1 : 5, .tv_nsec = 0 };
		syscall(SYS_futex, (uint32_t *)&ch->req_futex, FUTEX_WAIT, seen, &ts, NULL, 0);
		mgr_quiesce_enter();
	}
out:
	at_log_error("on-demand issuance could not start (the store or the CA settings); it stays off");
	mgr_ca_list_free(cas);
	at_store_close(st);
	mgr_quiesce_leave();
	return NULL;
}

int mgr_ondemand_start(void)
{
	if (!mgr_host->cfg->on_demand || mgr_host->chan == NULL)
		return 0;
	/* On etcd the fleet's leader alone publishes challenges through the store (fleet.h); an on-demand name is
	 * ordered by the host asked for it, which answers its challenge alone. */
	if (at_store_is_remote(mgr_host->cfg->storage))
		at_log_warn("AUTOTLS_ON_DEMAND on an etcd store: each host orders the names it is asked for and answers "
			    "their challenges itself; behind a load balancer set AUTOTLS_CHALLENGES=dns-01 for them");
	pthread_t t;
	return pthread_create(&t, NULL, ondemand_main, NULL) == 0 ? 0 : AT_E_NOMEM;
}
