/* The renewal plan (see at_engine_renewal_plan in engine.h). */
#include "engine/engine.h"
#include "engine/internal.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ARI_DEFAULT_RECHECK_S (6 * 3600)
#define ARI_MIN_RECHECK_S 60

/* t as 2026-12-03T14:45:36Z, for the lines an operator reads. */
static void utc(char *out, size_t size, time_t t)
{
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "%ld", (long)t);
}

int at_engine_renewal_plan(struct at_engine *e, const struct at_cert_record *rec, unsigned rnd, time_t *renew_at,
			   time_t *recheck_at, int *from_ari)
{
	time_t now = time(NULL);
	time_t life_due = at_renewal_time(rec->info.not_before, rec->info.not_after, 0, 0);
	long life = (long)(rec->info.not_after - rec->info.not_before);
	/* After the due point, up to a twentieth of the lifetime (at most an hour), so that a fleet spreads out. */
	long j = life / 20 < 3600 ? life / 20 : 3600;
	if (j > 0)
		life_due += (time_t)(rnd % (unsigned long)j);
	*renew_at = life_due;
	*recheck_at = life_due;
	*from_ari = 0;

	struct at_acme_directory_info di;
	char *id = NULL;
	/* A certificate without an Authority Key Identifier has no certID: the lifetime rule alone. */
	if (at_ari_cert_id(&id, rec->chain_pem, rec->chain_len) != 0)
		return 0;
	/* Our own recheck periods follow the test time scale (AUTOTLS_TEST_BACKOFF_SCALE); the CA's Retry-After
	 * never does: it is the CA's word. */
	long div = e->cfg.backoff_divisor > 1 ? e->cfg.backoff_divisor : 1;
	long dflt = ARI_DEFAULT_RECHECK_S / div, floor_s = ARI_MIN_RECHECK_S / div;
	if (floor_s < 1)
		floor_s = 1;
	/* What the CA said before a restart holds until its Retry-After ends (ari_state.c). */
	struct engine_ari_plan kept;
	if (engine_ari_load(e, rec, id, &kept) == 0 && now < kept.recheck_at) {
		*renew_at = kept.renew_at;
		*recheck_at = kept.recheck_at;
		*from_ari = kept.from_ari;
		at_log_debug("ARI for %s: the CA's last answer holds until %ld, renewing at %ld",
			     rec->names ? rec->names[0] : "?", (long)kept.recheck_at, (long)kept.renew_at);
		free(id);
		return 0;
	}
	if (at_acme_directory(at_engine_acme(e), &di) != 0 || di.renewal_info == NULL) {
		free(id);
		return 0;
	}
	struct at_ari_window w;
	int rc = at_acme_renewal_info(at_engine_acme(e), id, &w);
	/* From the answer on, not from before the request: a request that crossed a second boundary must not
	 * bring the next one inside the Retry-After (section 4.3). */
	now = time(NULL);
	if (rc != 0) {
		/* ARI is advice: without an answer the lifetime rule stands; ask again later. */
		*recheck_at = now + dflt < life_due ? now + dflt : life_due;
		free(id);
		return 0;
	}
	/* Section 4.2: a uniformly random time in the window, even when the window has already begun (a fleet
	 * told at once must not come back at once); a time already past means now. The CA may move renewal earlier
	 * (a revocation coming) or later (load): it wins both ways, but never past the point where a twentieth of
	 * the lifetime is left, which keeps room for retries before the certificate ends. */
	time_t pick = at_ari_pick(&w, rnd);
	if (pick < now)
		pick = now;
	time_t ceiling = rec->info.not_after - life / 20;
	*renew_at = pick < ceiling ? pick : (ceiling > life_due ? ceiling : life_due);
	*from_ari = pick <= ceiling;
	char ws[32], we[32];
	utc(ws, sizeof(ws), w.start);
	utc(we, sizeof(we), w.end);
	if (w.explanation_url && pick < life_due)
		at_log_warn("the CA asks for %s to be renewed early (ARI window %s to %s): %s",
			    rec->names ? rec->names[0] : "?", ws, we, w.explanation_url);
	else if (w.explanation_url)
		at_log_info("the CA's renewal window for %s is %s to %s: %s", rec->names ? rec->names[0] : "?", ws, we,
			    w.explanation_url);
	long again = w.retry_after > 0 ? w.retry_after : dflt;
	if (again < floor_s)
		again = floor_s;
	/* Whole seconds: now is the current second's start, so one more keeps a restarted manager (which wakes on
	 * the second, not a whole period after the answer) from asking up to a second inside the Retry-After. */
	if (w.retry_after > 0)
		again++;
	*recheck_at = now + again < *renew_at ? now + again : *renew_at;
	at_log_debug("ARI window for %s: %ld..%ld, renewing at %ld", rec->names ? rec->names[0] : "?", (long)w.start,
		     (long)w.end, (long)*renew_at);
	at_ari_window_clear(&w);
	struct engine_ari_plan p = { .renew_at = *renew_at, .recheck_at = *recheck_at, .from_ari = *from_ari };
	engine_ari_save(e, rec, id, &p);
	free(id);
	return 0;
}
