/*
 * AUTOTLS_CA's ordered list of CAs (see ca_list.h).
 *
 * What it owns: one engine per CA (each keeps its own account under accounts/<ca>/ in the store, and its own
 * attempt records and pending orders under <ca>), and the decision which CA an issuance goes to. Who calls it:
 * the leader (lead.c) and the on-demand thread (ondemand.c), each with a list of its own, holding the quiesce
 * lock as for any engine call (the engines release it in their network waits). It never logs an EAB value:
 * complaints name the setting.
 *
 * Why the newest record of any CA first: the store keeps a record per CA (certificates/<ca>/<name>), and a
 * certificate the second CA issued while the first was down must not make the first order again before that
 * certificate is due. Once it is due, the round starts again from the first CA.
 */
#include "shim/manager/ca_list.h"
#include "shim/manager/manager.h"
#include "shim/config.h"
#include "acme/acme.h"
#include "store/name.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mgr_ca_list {
	struct at_engine *e[SHIM_MAX_CAS];
	int account_ok[SHIM_MAX_CAS]; /* the CA knows our account (asked once, again after a failure) */
	size_t n;
	struct at_store *store;       /* borrowed: the one every engine uses */
};

void mgr_engine_base(struct at_engine_config *ec, struct at_store *store)
{
	const struct shim_config *cfg = mgr_host->cfg;
	memset(ec, 0, sizeof(*ec));
	ec->directory_url = cfg->ca;
	ec->ca_file = cfg->ca_roots;
	ec->email = cfg->email;
	ec->key_type = cfg->key_type;
	ec->account_key_type = AT_KEY_P256;
	ec->store = store;
	ec->guard_attempts = 1;
	ec->backoff_divisor = cfg->backoff_divisor;
}

int mgr_ca_list_new(struct mgr_ca_list **out, const struct at_engine_config *base)
{
	const struct shim_config *cfg = mgr_host->cfg;
	struct mgr_ca_list *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return AT_E_NOMEM;
	l->store = base->store;
	for (size_t i = 0; i < cfg->ncas; i++) {
		struct at_engine_config ec = *base;
		ec.directory_url = cfg->cas[i];
		ec.eab_kid = cfg->eab_kid[i];
		ec.eab_hmac_key = cfg->eab_hmac_key[i];
		ec.profile = cfg->profile;
		ec.profile_required = cfg->profile != NULL;
		ec.preferred_chain = cfg->preferred_chain;
		ec.must_staple = cfg->must_staple;
		int rc = at_engine_new(&l->e[i], &ec);
		if (rc != 0) {
			mgr_ca_list_free(l);
			return rc;
		}
		l->n++;
	}
	*out = l;
	return 0;
}

void mgr_ca_list_free(struct mgr_ca_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		at_engine_free(l->e[i]);
	free(l);
}

size_t mgr_ca_list_count(const struct mgr_ca_list *l)
{
	return l->n;
}

struct at_engine *mgr_ca_list_engine(struct mgr_ca_list *l, size_t i)
{
	return i < l->n ? l->e[i] : NULL;
}

/* What a failure at a CA was, for the line that passes it over: the error and the CA's problem, if any. */
static void describe(char *out, size_t size, struct at_engine *e, int rc)
{
	const struct at_problem *p = at_acme_last_problem(at_engine_acme(e));
	snprintf(out, size, "%s%s%s%s%s%.200s", at_strerror(rc), p->type ? " (" : "", p->type ? at_problem_short_type(p) : "",
		 p->type ? ")" : "", p->detail ? ": " : "", p->detail ? p->detail : "");
}

/*
 * Before any order at CA i: the directory answers, offers AUTOTLS_PROFILE when one is set, and our account is
 * known (with the EAB the CA requires). A mistake in the settings is one error line naming the setting; the
 * reason goes into why. Returns 0 or the error (the CA's problem cleared when the CA was not asked).
 */
static int ready_at(struct mgr_ca_list *l, size_t i, char *why, size_t wsize)
{
	const struct shim_config *cfg = mgr_host->cfg;
	struct at_engine *e = l->e[i];
	struct at_acme *acme = at_engine_acme(e);
	struct at_acme_directory_info info;
	char kvar[SHIM_EAB_VAR_MAX], hvar[SHIM_EAB_VAR_MAX];
	int rc = at_acme_directory(acme, &info);
	if (rc != 0) {
		describe(why, wsize, e, rc);
		return rc;
	}
	if (cfg->profile != NULL) {
		size_t k = 0;
		while (k < info.nprofiles && strcmp(info.profiles[k], cfg->profile) != 0)
			k++;
		if (k == info.nprofiles) {
			char offered[300] = "";
			for (size_t j = 0, o = 0; j < info.nprofiles && o < sizeof(offered); j++)
				o += (size_t)snprintf(offered + o, sizeof(offered) - o, "%s%s", j ? ", " : "", info.profiles[j]);
			snprintf(why, wsize, "it does not offer the profile \"%s\" (AUTOTLS_PROFILE)", cfg->profile);
			at_log_error("AUTOTLS_PROFILE=%s: the CA %s does not offer that profile (it offers %s); no order "
				     "placed there. Set AUTOTLS_PROFILE to one it offers, or unset it", cfg->profile,
				     cfg->cas[i], info.nprofiles ? offered : "none");
			at_acme_problem_reset(acme, -1);
			return AT_E_UNSUPPORTED;
		}
	}
	if (l->account_ok[i])
		return 0;
	shim_config_eab_vars(kvar, hvar, i);
	if (info.eab_required && cfg->eab_kid[i] == NULL) {
		snprintf(why, wsize, "it requires External Account Binding and %s is not set", kvar);
		at_log_error("the CA %s requires External Account Binding: set %s and %s to the key ID and the HMAC key "
			     "it gave you; nothing can be obtained from it until then", cfg->cas[i], kvar, hvar);
		at_acme_problem_reset(acme, -1);
		return AT_E_EAB_REQUIRED;
	}
	rc = at_engine_account(e, NULL);
	if (rc == 0) {
		l->account_ok[i] = 1;
		return 0;
	}
	describe(why, wsize, e, rc);
	const struct at_problem *p = at_acme_last_problem(acme);
	if (cfg->eab_kid[i] != NULL && (p->type != NULL || at_err_band(rc) == AT_BAND_ACME)) {
		/* The detail is the CA's; it names the key ID at most, never the HMAC key (we never sent it). */
		at_log_error("the CA %s refused the account with the External Account Binding of %s and %s (%s%s%.200s): "
			     "check that both are the values the CA gave you, and that the key ID is not spent", cfg->cas[i],
			     kvar, hvar, at_problem_short_type(p)[0] ? at_problem_short_type(p) : at_strerror(rc),
			     p->detail ? ": " : "", p->detail ? p->detail : "");
		snprintf(why, wsize, "it refused the External Account Binding of %s and %s", kvar, hvar);
		/* Said once, here: the caller's summary need not repeat the CA's words. */
		at_acme_problem_reset(acme, p->retry_after);
	}
	return rc;
}

/* Whether a failure at one CA is worth the next: not once the CSR is in (the certificate may still come from
 * there: the order is resumed), not a store error or a busy issue lock (the next CA shares both). */
static int pass_over(struct at_engine *e, int rc)
{
	if (at_acme_last_finalized(at_engine_acme(e)) && rc != AT_E_BACKOFF)
		return 0;
	return at_err_band(rc) != AT_BAND_STORE && rc != AT_E_LOCKED && rc != AT_E_NOMEM;
}

int mgr_ca_ensure(struct mgr_ca_list *l, const char *const *names, size_t nnames, int force, mgr_ca_ensure_fn fn,
		  void *ctx, struct at_cert_record *rec, int *ordered, size_t *used)
{
	const struct shim_config *cfg = mgr_host->cfg;
	char passed[SHIM_MAX_CAS][400];
	size_t best = l->n;
	time_t best_end = 0, now = time(NULL);
	int rc = AT_E_INVAL;

	*ordered = 0;
	*used = 0;
	memset(rec, 0, sizeof(*rec));
	/* The newest record any CA issued that is still good, served without asking any CA (one may be down). */
	for (size_t i = 0; !force && i < l->n; i++) {
		struct at_cert_record r;
		memset(&r, 0, sizeof(r));
		int loaded = at_cert_record_load(l->store, at_engine_ca(l->e[i]), names[0], &r) == 0;
		if (loaded)
			at_engine_ari_apply(l->e[i], &r); /* the CA's window, kept across a restart */
		if (loaded && at_engine_record_current(&r, names, nnames, now) && r.info.not_after > best_end) {
			at_cert_record_clear(rec);
			*rec = r;
			best = i;
			best_end = r.info.not_after;
		} else {
			at_cert_record_clear(&r);
		}
	}
	if (best < l->n) {
		*used = best;
		return 0;
	}
	for (size_t i = 0; i < l->n; i++) {
		struct at_engine *e = l->e[i];
		*used = i;
		passed[i][0] = '\0';
		rc = ready_at(l, i, passed[i], sizeof(passed[i]));
		if (rc == 0) {
			memset(rec, 0, sizeof(*rec));
			rc = fn(ctx, e, force, rec, ordered);
			if (rc == 0) {
				if (*ordered && l->n > 1)
					at_log_info("the certificate for %s was issued by %s (CA %zu of %zu in AUTOTLS_CA)",
						    names[0], cfg->cas[i], i + 1, l->n);
				for (size_t j = 0; *ordered && j < i; j++)
					at_log_info("  %s was passed over: %s", cfg->cas[j], passed[j]);
				return 0;
			}
			describe(passed[i], sizeof(passed[i]), e, rc);
			if (!pass_over(e, rc))
				return rc;
			l->account_ok[i] = 0; /* asked again next time: the CA may have forgotten it (restarted) */
		}
		if (i + 1 < l->n)
			at_log_warn("the CA %s (%zu of %zu in AUTOTLS_CA) could not issue for %s: %s; trying %s", cfg->cas[i],
				    i + 1, l->n, names[0], passed[i], cfg->cas[i + 1]);
	}
	return rc;
}

int mgr_ca_newest_record(struct at_store *st, const char *name, char *ca, size_t size, struct at_store_stat *stat)
{
	const struct shim_config *cfg = mgr_host->cfg;
	char comp[AT_NAME_MAX + 1], c[256], key[1024];
	int found = 0;
	if (at_name_to_component(comp, name) != 0)
		return AT_E_INVAL;
	for (size_t i = 0; i < cfg->ncas; i++) {
		struct at_store_stat s;
		if (at_store_ca_component(c, sizeof(c), cfg->cas[i]) != 0 ||
		    at_store_key(key, sizeof(key), "certificates", c, comp, "record", (char *)NULL) != 0 ||
		    at_store_stat(st, key, &s) != 0)
			continue;
		if (!found || s.modified > stat->modified) {
			if (strlen(c) >= size)
				continue;
			memcpy(ca, c, strlen(c) + 1);
			*stat = s;
			found = 1;
		}
	}
	return found ? 0 : AT_E_NOTFOUND;
}
