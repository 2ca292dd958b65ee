/*
 * Following and leading (see manager.h): the election on <storage>/manager.lock, the follower's wait, and the
 * leader's schedule: obtain at start, renew when a third of the lifetime is left (half under ten days) plus a
 * small jitter; after a failure, wait for the next try the engine's attempt record allows (kept in the store, so
 * a restarted server does not start from zero: at_engine_attempt_plan, at_backoff_delay: 1 min, 10 min, 100 min,
 * then daily, never more than an eighth of the time the certificate has left, never before the CA's
 * Retry-After) while the old certificate keeps being served.
 *
 * No fixed wait before the first order in the tree's manager process: a challenge answered through the host
 * (TLS-ALPN-01, a webroot) waits, once presented, until the host listens (ready.c); the manager process does not
 * exit with a host that daemonises, so an order it starts is never abandoned. An in-process leader (only when no
 * manager process could be started) still settles first: it may be the very process that is about to exit
 * after forking its daemon, and an order abandoned after the CA was told to validate counts as a failed
 * validation against the CA's limits.
 */
#include "shim/manager/manager.h"
#include "shim/manager/ca_list.h"
#include "shim/manager/control.h"
#include "shim/manager/events.h"
#include "shim/manager/fleet.h"
#include "shim/manager/staple.h"
#include "engine/engine.h"
#include "store/certs.h"
#include "store/name.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"
#include "util/proc_stat.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SETTLE_MS 300 /* in-process leaders only (see above) */
#define ELECTION_EVERY_MS 1000
/* A freshly forked child waits this long before its first try: nginx and Apache fork their workers as root
 * and only then drop to www-data, and a worker must not win the election in between. */
#define FORKED_WAIT_MS 1500
/* How often a process tree without a leader looks for a new certificate in the store. */
#define STORE_POLL_MS 2000
/* The same on etcd while the watch stream is up (fleet.h): the watch says when; this is only a safety net. */
#define FLEET_POLL_MS 30000
/* How long the tree waits for a manager process it started to take the region's liveness mutex (a start takes
 * milliseconds; this covers a loaded machine and valgrind) before electing an in-process leader instead. */
#define START_GRACE_MS 10000
/* A manager process that dies right after its start is not restarted more often than this. */
#define RESTART_EVERY_MS 2000

int mgr_forked_child;
int mgr_is_helper;

/* mkdir -p with 0700 for the folders we create (the store's own open does the same later). */
static void make_dirs(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(tmp, 0700);
		*p = '/';
	}
	mkdir(tmp, 0700);
}

bool mgr_can_lead(void)
{
	const char *dir = mgr_host->cfg->state_dir; /* the store folder itself, or this host's own (config.h) */
	if (faccessat(AT_FDCWD, dir, F_OK, AT_EACCESS) != 0)
		make_dirs(dir);
	return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0;
}

/* Opens (creating the store folder when needed) and tries the election lock. Returns the fd on success. */
static int try_elect(void)
{
	char path[4096];
	const char *dir = mgr_host->cfg->state_dir;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/manager.lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &fl) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned random_u32(void)
{
	unsigned r = 0;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (unsigned)time(NULL) ^ (unsigned)getpid();
	return r;
}

/* Sleeps until when (unix seconds) in one-second slices, serving the control channel (control.c); 0, -1 when
 * this process may no longer lead, 1 when the channel asks for a round now (*req). */
static int sleep_until(time_t when, struct mgr_control_req *req)
{
	while (time(NULL) < when) {
		mgr_control_wait(1000, req);
		mgr_event_tick();
		if (!mgr_can_lead())
			return -1;
		if (mgr_fleet_on() && mgr_fleet_keep() != 0)
			return -1; /* another host of the fleet may lead now (fleet.c) */
		if (req->ask != MGR_ASK_NONE)
			return 1;
	}
	return 0;
}

/* The CA's detail of the last problem of e, for the control channel's answer (NULL when none). */
static const char *problem_detail(struct at_engine *e)
{
	const struct at_problem *p = at_acme_last_problem(at_engine_acme(e));
	return p->detail;
}

/*
 * The wait after a failed round, until when: a renewal asked through the control channel ends it early (*asked,
 * *force: the next round answers it; the engine's attempt record still decides whether the CA is asked, and
 * says AT_E_BACKOFF when not); a revocation asked here is refused (from a failed round nothing is known to be in
 * service) and the wait goes on. 0, or -1 when this process may no longer lead.
 */
static int wait_after_failure(time_t when, int *asked, int *force)
{
	struct mgr_control_req req;
	for (;;) {
		int s = sleep_until(when, &req);
		if (s < 0)
			return -1;
		if (s > 0 && req.ask == MGR_ASK_REVOKE) {
			mgr_control_done(AT_E_STATE, NULL, NULL,
					 "the last round failed; revoke once a certificate is in service");
			continue;
		}
		if (s > 0) {
			*asked = 1;
			*force = req.force;
		}
		return 0;
	}
}

/*
 * One round: the challenge types the attempt record allows now (at_engine_attempt_plan: the type that last
 * worked first, then mgr_challenges' random order; only the types the round under way has not tried; never more
 * than the hour's budget of failed validations), falling back to the next only when the challenge itself failed
 * and the CSR was not yet sent (at_engine_fallback). When nothing may be tried now, the engine is still asked
 * once with every type: it answers with a stored certificate that is good, else AT_E_BACKOFF (its guard).
 */
static int ensure_any(void *ctx, struct at_engine *e, int force, struct at_cert_record *rec, int *ordered)
{
	(void)ctx;
	const struct shim_config *cfg = mgr_host->cfg;
	const char *const *names = (const char *const *)cfg->domains;
	struct at_solver list[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	size_t n = 0;
	int rc = mgr_challenge_plan(e, names, cfg->ndomains, list, &n, &plan);
	if (rc != 0) {
		at_log_error("no challenge can be answered here (AUTOTLS_CHALLENGES); nothing can be obtained");
		return rc;
	}
	/* A challenge answered through the host waits, once presented, until the host listens (ready.c). */
	struct at_solver use[AT_CHALLENGE_COUNT];
	for (size_t k = 0; k < n; k++) {
		if (mgr_solver_needs_host(&list[k]))
			mgr_solver_when_ready(&use[k], &list[k]);
		else
			use[k] = list[k];
	}
	return mgr_challenge_round(e, names, cfg->ndomains, use, n, &plan, force, rec, ordered);
}

/*
 * Seconds until the next round after one that failed: when the attempt record allows, or, when the engine kept
 * no record of the failure (the issue lock busy with another host, the store refusing a write), the backoff
 * (at_backoff_delay) for failures tries in a row. Never less than the CA's Retry-After, never under a second.
 */
static long next_round_s(struct at_engine *e, int failures, time_t in_service, long retry_after)
{
	const struct shim_config *cfg = mgr_host->cfg;
	struct at_solver list[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	size_t n = 0;
	time_t now = time(NULL);
	long wait_s;
	if (mgr_challenge_plan(e, (const char *const *)cfg->domains, cfg->ndomains, list, &n, &plan) == 0 &&
	    !plan.now_ok)
		wait_s = (long)(plan.next_try - now);
	else
		wait_s = at_backoff_delay(failures, now, in_service, retry_after, cfg->backoff_divisor);
	if (retry_after > wait_s)
		wait_s = retry_after;
	return wait_s < 1 ? 1 : wait_s;
}

/*
 * The OCSP staple of the certificate in service (staple.c): fetched or refreshed when due, published with the
 * certificate when it changed. Returns 1 when the CA's responder says the certificate is revoked (the `revoked`
 * event has fired): the caller orders a new one now.
 */
static int staple_round(struct mgr_staple *st, struct at_store *store, struct at_engine *e,
			const struct at_cert_record *rec)
{
	const struct shim_config *cfg = mgr_host->cfg;
	const char *const *names = (const char *const *)cfg->domains;
	int changed = 0, revoked = 0;
	char why[512] = "";
	mgr_staple_update(st, store, at_engine_ca(e), names[0], rec, &changed, &revoked, why, sizeof(why));
	if (changed) {
		struct mgr_staple_ref ref;
		mgr_staple_ref(st, &ref);
		int rc = mgr_publish_stapled(rec->chain_pem, rec->chain_len, rec->key_pem, rec->key_len, names[0], &ref);
		if (rc != 0 && rc != AT_E_STATE)
			at_log_warn("OCSP: cannot publish the staple for %s (%s); next try at its refresh", names[0],
				    at_strerror(rc));
	}
	if (revoked)
		mgr_event_revoked(names, cfg->ndomains, rec->info.not_after, why);
	return revoked;
}

static void lead(struct mgr_ca_list *cas, struct at_store *store, struct mgr_staple *staple)
{
	const struct shim_config *cfg = mgr_host->cfg;
	const char *const *names = (const char *const *)cfg->domains;
	int failures = 0, publish_failures = 0, served = 0, force = 0;
	time_t in_service = 0; /* notAfter of the certificate published last (the backoff's cap) */
	struct mgr_control_req req;
	int asked = 0;          /* the control channel waits for this round's outcome */
	char revoked[128] = ""; /* the serial revoked before it (control channel) */

	/* A sites file without AUTOTLS_DOMAINS: no leader's certificate. The leader still holds the election (the
	 * store's one leader) and answers its control channel; renew and revoke of a site are refused here. */
	while (cfg->ndomains == 0) {
		int s = sleep_until(time(NULL) + 3600, &req);
		if (s < 0)
			return;
		if (s > 0)
			mgr_control_done(AT_E_NOTFOUND, NULL, NULL,
					 "AUTOTLS_DOMAINS is not set: this server's certificates are its sites file's, "
					 "renewed on their own schedule");
	}
	for (;;) {
		struct at_cert_record rec;
		int ordered = 0;
		memset(&rec, 0, sizeof(rec));
		size_t ca = 0; /* AUTOTLS_CA's list: the CA that issued rec, or the last one tried */
		int rc = mgr_ca_ensure(cas, names, cfg->ndomains, force, ensure_any, NULL, &rec, &ordered, &ca);
		struct at_engine *e = mgr_ca_list_engine(cas, ca);
		if (rc != 0) {
			const struct at_problem *p = at_acme_last_problem(at_engine_acme(e));
			long wait_s = next_round_s(e, failures, in_service, p->retry_after);
			failures++;
			if (rc == AT_E_BACKOFF) {
				/* The attempt record says not yet (the engine logged why): a schedule, not an error. */
				at_log_info("no new order for %s yet; next try in %ld s", names[0], wait_s);
			} else {
				at_log_error("obtaining a certificate for %s failed: %s%s%s%s; next try in %ld s", names[0],
					     at_strerror(rc), p->type ? " (" : "", p->type ? at_problem_short_type(p) : "",
					     p->type ? ")" : "", wait_s);
				if (p->detail)
					at_log_error("the CA said: %s", p->detail);
			}
			if (at_err_band(rc) == AT_BAND_STORE)
				at_log_error("the store %s refused a write (%s); the current certificate stays in service",
					     cfg->storage, at_strerror(rc));
			mgr_event_failed(names, cfg->ndomains, rc, p);
			snprintf(mgr_control_state.last_error, sizeof(mgr_control_state.last_error), "%s%s%s",
				 at_strerror(rc), p->detail ? ": " : "", p->detail ? p->detail : "");
			if (asked)
				mgr_control_done(rc, NULL, revoked[0] ? revoked : NULL, p->detail);
			asked = 0;
			revoked[0] = '\0';
			if (wait_after_failure(time(NULL) + wait_s, &asked, &force) != 0)
				return;
			continue;
		}
		failures = 0;
		force = 0;
		if (ordered && served)
			at_log_info("renewed the certificate for %s%s", names[0], cfg->ndomains > 1 ? " and more" : "");
		int prc = mgr_publish_certs(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, names[0]);
		if (prc == 0)
			at_log_info("published the certificate for %s%s (issuer %s, not after %ld)%s", names[0],
				    cfg->ndomains > 1 ? " and more" : "", rec.info.issuer, (long)rec.info.not_after,
				    ordered ? "" : " from the store");
		mgr_event_cert(names, cfg->ndomains, &rec, ordered);
		snprintf(mgr_control_state.serial, sizeof(mgr_control_state.serial), "%s", rec.info.serial);
		mgr_control_state.not_after = rec.info.not_after;
		mgr_control_state.last_error[0] = '\0';
		if (prc != 0 && prc != AT_E_STATE) {
			/* Stored but not served: try again with the failure backoff (the next round finds the stored
			 * certificate and orders nothing), never wait for the renewal point while the old one runs out. */
			long wait_s = at_backoff_delay(publish_failures, time(NULL), in_service, -1, cfg->backoff_divisor);
			publish_failures++;
			at_log_error("the certificate for %s is stored but cannot be published (%s); next try in %ld s",
				     names[0], at_strerror(prc), wait_s);
			at_cert_record_clear(&rec);
			if (asked)
				mgr_control_done(prc, NULL, revoked[0] ? revoked : NULL, "stored but not published");
			asked = 0;
			revoked[0] = '\0';
			if (wait_after_failure(time(NULL) + wait_s, &asked, &force) != 0)
				return;
			continue;
		}
		publish_failures = 0;
		served = 1;
		in_service = rec.info.not_after;
		if (asked)
			mgr_control_done(0, rec.info.serial, revoked[0] ? revoked : NULL,
					 ordered ? NULL : "not due: the certificate in service is kept (--force orders anew)");
		asked = 0;
		revoked[0] = '\0';
		if (staple_round(staple, store, e, &rec)) {
			force = 1; /* revoked: a new order now, not at the renewal point */
			at_cert_record_clear(&rec);
			continue;
		}
		/* Wait for the renewal point, asking ARI again whenever the CA said to, refreshing the staple when
		 * due. */
		unsigned rnd = random_u32();
		for (;;) {
			time_t renew_at, recheck_at;
			int from_ari = 0;
			if (at_engine_renewal_plan(e, &rec, rnd, &renew_at, &recheck_at, &from_ari) != 0)
				renew_at = recheck_at = time(NULL) + at_backoff_delay(0, time(NULL), rec.info.not_after, -1,
										     cfg->backoff_divisor);
			mgr_control_state.renew_at = renew_at;
			mgr_control_state.renew_from_ari = from_ari;
			time_t wake = recheck_at < renew_at ? recheck_at : renew_at;
			if (staple->refresh_at != 0 && staple->refresh_at < wake)
				wake = staple->refresh_at;
			int s = sleep_until(wake, &req);
			if (s < 0) {
				at_cert_record_clear(&rec);
				return;
			}
			if (s > 0 && req.ask == MGR_ASK_REVOKE) {
				/* RFC 8555 section 7.6, signed with the account that ordered it; then a new order (a new
				 * key: the engine makes one for every order) replaces it at once. */
				int vrc = at_acme_revoke(at_engine_acme(e), rec.chain_pem, rec.chain_len, req.reason);
				if (vrc != 0) {
					at_log_error("revoking the certificate for %s (serial %s) failed: %s", names[0],
						     rec.info.serial, at_strerror(vrc));
					mgr_control_done(vrc, rec.info.serial, NULL, problem_detail(e));
					continue;
				}
				at_log_info("revoked the certificate for %s (serial %s, reason %d); ordering its replacement",
					    names[0], rec.info.serial, req.reason);
				mgr_event_revoked(names, cfg->ndomains, rec.info.not_after,
						  "revoked by the operator (autotls revoke)");
				snprintf(revoked, sizeof(revoked), "%s", rec.info.serial);
			}
			if (s > 0) {
				asked = 1;
				force = req.force;
				break;
			}
			if (staple->refresh_at != 0 && time(NULL) >= staple->refresh_at &&
			    staple_round(staple, store, e, &rec)) {
				force = 1;
				break;
			}
			if (time(NULL) >= renew_at) {
				/* The lifetime rule is the engine's own; an ARI window must be forced. */
				force = from_ari;
				if (from_ari)
					at_log_info("renewing %s now: the CA's renewal window (ARI) says so", names[0]);
				break;
			}
		}
		at_cert_record_clear(&rec);
	}
}

static int lead_with_engine(void)
{
	const struct shim_config *cfg = mgr_host->cfg;
	struct at_store *store = NULL;
	struct mgr_ca_list *cas = NULL;
	int rc = at_store_open(&store, cfg->storage, (gid_t)cfg->storage_gid);
	if (rc != 0) {
		at_log_error("AUTOTLS_STORAGE %s: cannot open the store: %s", cfg->storage, at_strerror(rc));
		return rc;
	}
	/* One engine per CA of AUTOTLS_CA (ca_list.c), each with the CA's own URL and EAB. */
	struct at_engine_config ec;
	mgr_engine_base(&ec, store);
	mgr_fleet_engine_config(&ec); /* etcd: the issue lock's lease, the fleet lock kept meanwhile */
	rc = mgr_ca_list_new(&cas, &ec);
	if (rc == 0) {
		struct mgr_staple staple;
		memset(&staple, 0, sizeof(staple));
		/* Without a channel the server runs on (logged): only the operators' commands are missing. */
		if (mgr_control_open() != 0)
			at_log_debug("pid %d leads without a control channel", (int)getpid());
		mgr_fleet_exit_add(store); /* the engine's issue locks, given back at a clean exit (fleet_exit.c) */
		lead(cas, store, &staple);
		mgr_fleet_exit_remove(store);
		mgr_control_close();
		mgr_staple_clear(&staple);
	}
	mgr_ca_list_free(cas);
	at_store_close(store);
	return rc;
}

/* 1 when pid names a live process (ours to ask about or not), a zombie not counting. Only for the in-process
 * publishers of a tree without a leader (claim_tree), which are processes of the host; the tree's manager
 * process is asked through the region (manager_defers). */
static int alive(pid_t pid)
{
	struct at_proc_stat st;
	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return 0;
	if (at_proc_stat_read(pid, &st) != 0)
		return 1; /* kill says it is there; an unreadable line is no proof of death */
	return st.state != 'Z' && st.state != 'X';
}

/*
 * Whether this in-process thread should leave the store to the tree's manager process. It does while that
 * process is alive (shm_manager_state: the kernel's word, not a pid) and while a start is under way (up to
 * START_GRACE_MS). When the manager is gone, the first process of the tree to notice logs it, once per
 * generation; one process that can start a new manager (its user may write the store and it still has the
 * region) claims the restart, once per generation and at most every RESTART_EVERY_MS, and the tree waits for
 * it again; when none can, or the start fails, every thread goes on to the election as in a tree that never
 * had a manager process, and an in-process leader takes over.
 */
static int manager_defers(struct shm_region *shm)
{
	if (mgr_is_helper || shm == NULL)
		return 0;
	enum shm_manager_state st = shm_manager_state(shm);
	if (st == SHM_MANAGER_ALIVE)
		return 1;
	/* mgr_gen is the manager's (read-only region); the rest is the channel's, which any process of the tree
	 * writes: a start time in the future (forged) counts as no start, so it cannot defer the tree for ever. */
	struct shm_channel *ch = mgr_host->chan;
	uint32_t gen = atomic_load(&shm->mgr_gen), claim = atomic_load(&ch->start_claim);
	int64_t start = atomic_load(&ch->start_at_ms), now = at_clock_ms();
	if (start > now)
		start = 0;
	if (start != 0 && claim == gen + 1 && now - start < START_GRACE_MS)
		return 1; /* started for this generation, not up yet */
	if (gen == 0 && start == 0)
		return 0; /* this tree never had a manager process */
	uint32_t logged = atomic_load(&ch->gone_logged);
	if (logged != gen + 1 && atomic_compare_exchange_strong(&ch->gone_logged, &logged, gen + 1)) {
		if (gen == 0)
			at_log_warn("the tree's manager process did not start within %d s; noticed in pid %d",
				    START_GRACE_MS / 1000, (int)getpid());
		else
			at_log_warn("the tree's manager process (pid %d) is gone; noticed in pid %d",
				    (int)atomic_load(&shm->helper_pid), (int)getpid());
	}
	if (start != 0 && now - start < RESTART_EVERY_MS)
		return 1; /* it died right after a start: wait a little before the next */
	if (mgr_host->start_manager == NULL || claim == gen + 1 || !mgr_can_lead())
		return 0;
	if (!atomic_compare_exchange_strong(&ch->start_claim, &claim, gen + 1))
		return 1; /* another process of the tree is starting one just now */
	atomic_store(&ch->start_at_ms, now);
	mgr_quiesce_leave();
	int rc = mgr_host->start_manager();
	mgr_quiesce_enter();
	if (rc == 0) {
		at_log_info("pid %d started a new manager process for its tree", (int)getpid());
		return 1;
	}
	atomic_store(&ch->start_at_ms, 0);
	at_log_warn("pid %d cannot start a new manager process (%s); the tree's processes manage certificates "
		    "themselves", (int)getpid(), at_strerror(rc));
	return 0;
}

/*
 * In a process tree without a leader (PostgreSQL, Redis: they serve managed names but another server answers
 * the challenges and leads), one process claims the region's publisher slot and copies the certificate from
 * the store into the region whenever the record changes; the others follow the region as usual.
 */
static int claim_tree(struct shm_channel *ch)
{
	int32_t me = (int32_t)getpid();
	int32_t cur = atomic_load(&ch->leader_pid);
	if (cur == me)
		return 1;
	if (alive(cur) || mgr_region_writable() == NULL) /* only a process that may write the region publishes */
		return 0;
	return atomic_compare_exchange_strong(&ch->leader_pid, &cur, me);
}

static void publish_from_store(void)
{
	static struct at_store *reader; /* kept open for the life of the process that opened it */
	static pid_t reader_pid;
	static struct at_store_stat last, last_ocsp;
	static struct mgr_staple staple; /* the stored OCSP response, checked against the record */
	static int warned;
	const struct shim_config *cfg = mgr_host->cfg;
	char ca[256];
	struct at_store_stat st;
	struct at_cert_record rec;

	if (cfg->ndomains == 0)
		return; /* a sites file alone: its certificates are the manager process's (sites_pool.c) */
	if (reader != NULL && reader_pid != getpid())
		reader = NULL; /* a parent's (an etcd store's connection is the parent's): left as it is */
	reader_pid = getpid();
	if (reader == NULL && at_store_open(&reader, cfg->storage, (gid_t)-1) != 0) {
		if (!warned++)
			at_log_debug("pid %d (uid %d) can neither lead nor read %s; it serves its own certificates until "
				    "a leader in its process tree publishes (see AUTOTLS_STORAGE_GROUP)",
				    (int)getpid(), (int)geteuid(), cfg->storage);
		return;
	}
	/* The newest record of any CA in AUTOTLS_CA's list (ca_list.c), and its OCSP response beside it. */
	struct at_store_stat ost = { 0 };
	char okey[1024], comp[AT_NAME_MAX + 1];
	if (mgr_ca_newest_record(reader, cfg->domains[0], ca, sizeof(ca), &st) != 0)
		return;
	if (!cfg->ocsp_off && at_name_to_component(comp, cfg->domains[0]) == 0 &&
	    at_store_key(okey, sizeof(okey), "certificates", ca, comp, "ocsp", (char *)NULL) == 0 &&
	    at_store_stat(reader, okey, &ost) != 0)
		memset(&ost, 0, sizeof(ost));
	if (st.modified == last.modified && st.size == last.size && ost.modified == last_ocsp.modified &&
	    ost.size == last_ocsp.size)
		return;
	memset(&rec, 0, sizeof(rec));
	if (at_cert_record_load(reader, ca, cfg->domains[0], &rec) != 0)
		return;
	last = st;
	last_ocsp = ost;
	int changed = 0;
	struct mgr_staple_ref ref;
	mgr_staple_load(&staple, reader, ca, cfg->domains[0], &rec, &changed);
	mgr_staple_ref(&staple, &ref);
	if (mgr_publish_stapled(rec.chain_pem, rec.chain_len, rec.key_pem, rec.key_len, cfg->domains[0], &ref) == 0)
		at_log_info("published the certificate for %s from the store (not after %ld) in pid %d", cfg->domains[0],
			    (long)rec.info.not_after, (int)getpid());
	at_cert_record_clear(&rec);
}

void mgr_follow_store(void)
{
	/* The manager process is its tree's only publisher (it holds mgr_alive). */
	if (mgr_host->shm == NULL || mgr_is_helper || claim_tree(mgr_host->chan))
		publish_from_store();
}

void mgr_lead(void)
{
	struct shm_region *shm = mgr_host->shm;
	int fd = -1;
	long since_poll = STORE_POLL_MS;
	unsigned long seen_wseq = 0; /* the fleet watch's count when the store was last read (fleet.h) */
	long since_try = mgr_forked_child ? ELECTION_EVERY_MS - FORKED_WAIT_MS : ELECTION_EVERY_MS;
	int fleet_lost = 0; /* the last try lost the fleet lock: the next waits for mgr_fleet_try_due (fleet.h) */

	if (mgr_is_helper)
		since_try = ELECTION_EVERY_MS;
	mgr_fleet_watch_start(); /* etcd, manager process only: the store and the fleet lock (fleet_watch.c) */
	for (;;) {
		/* A tree with a live manager process leaves the election to it; the others stand by. */
		int defer = manager_defers(shm);
		if (fd < 0 && !defer && (fleet_lost ? mgr_fleet_try_due(since_try) : since_try >= ELECTION_EVERY_MS)) {
			since_try = 0;
			fleet_lost = 0;
			/* A leader must be able to publish: a worker that may write the store but not the region
			 * (shim/shm.h) leaves the lead to a process that can. */
			if (mgr_can_lead() && (shm == NULL || mgr_region_writable() != NULL))
				fd = try_elect();
			/* On etcd the tree's leader leads only while it holds the fleet's lock too (fleet.c); else
			 * it follows the store like any tree whose leader lives elsewhere. */
			if (fd >= 0 && mgr_fleet_on() && mgr_fleet_try_lead() != 0) {
				close(fd);
				fd = -1;
				fleet_lost = 1;
			}
			if (fd >= 0) {
				at_log_info("managing certificates in pid %d", (int)getpid());
				if (shm)
					atomic_store(&mgr_host->chan->leader_pid, (int32_t)getpid());
				if (!mgr_is_helper && !mgr_forked_child)
					mgr_sleep_ms(SETTLE_MS);
				mgr_fleet_take_over(); /* etcd: what a dead leader left (fleet_takeover.c) */
				lead_with_engine();
				mgr_fleet_release();
				/* Gave up the lead (lost permission or could not open the store). */
				if (shm)
					atomic_store(&mgr_host->chan->leader_pid, 0);
				close(fd);
				fd = -1;
				at_log_info("pid %d no longer manages certificates", (int)getpid());
				mgr_sleep_ms(ELECTION_EVERY_MS);
				continue;
			}
		}
		/* Not the leader: a tree whose leader lives elsewhere (another tree's manager process, another
		 * host) copies the certificate from the store, through its manager process when it has one. */
		unsigned long wseq = mgr_fleet_watch_seq();
		long poll_ms = mgr_fleet_watching() ? FLEET_POLL_MS : STORE_POLL_MS;
		if (fd < 0 && (since_poll >= poll_ms || wseq != seen_wseq) && !defer &&
		    (mgr_is_helper || !mgr_can_lead() || mgr_fleet_on())) {
			since_poll = 0;
			seen_wseq = wseq;
			/* The leader's challenges first: it waits only MGR_FLEET_SETTLE_MS before the CA validates. */
			if (mgr_is_helper && shm != NULL) {
				mgr_fleet_challenges_follow(); /* etcd: the leader's challenges (fleet.h) */
				mgr_fleet_http01_follow();
			}
			mgr_follow_store();
		}
		since_poll += 250;
		if (shm) {
			uint32_t seen = atomic_load(&shm->futex);
			mgr_sync();
			mgr_report_refusals();
			mgr_quiesce_leave();
			shm_wait(shm, seen, 250);
			mgr_quiesce_enter();
			since_try += 250;
		} else {
			mgr_sleep_ms(250);
			since_try += 250;
		}
	}
}
