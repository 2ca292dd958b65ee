/*
 * AUTOTLS_CA's ordered list of CAs (ca_list.c): one engine per CA, each with its own account in the store and
 * its own External Account Binding, and "obtain from the first CA that can issue" for the leader (lead.c) and
 * the on-demand thread (ondemand.c).
 */
#ifndef AUTOTLS_SHIM_MANAGER_CA_LIST_H
#define AUTOTLS_SHIM_MANAGER_CA_LIST_H

#include "engine/engine.h"
#include "store/certs.h"
#include "util/err.h"

#include <stddef.h>

struct mgr_ca_list;

/* One engine for each CA of the configuration (mgr_host->cfg: AUTOTLS_CA, its EAB settings, AUTOTLS_PROFILE,
 * AUTOTLS_PREFERRED_CHAIN); base gives the rest (store, roots, email, key types, ...) and is copied, its
 * directory, EAB, profile and chain fields ignored. *out is freed with mgr_ca_list_free. 0 or an error. */
int mgr_ca_list_new(struct mgr_ca_list **out, const struct at_engine_config *base) AT_MUST_CHECK;
/* The base every engine of the manager starts from (the leader, on-demand, the sites workers): the settings'
 * CA roots, e-mail and key type, a P-256 account key, store, and the persistent attempt record with the
 * settings' backoff scale (a restarted server, Restart=always or a crash loop, must not start from zero against
 * the CA's limits). */
void mgr_engine_base(struct at_engine_config *ec, struct at_store *store);
void mgr_ca_list_free(struct mgr_ca_list *l);

size_t mgr_ca_list_count(const struct mgr_ca_list *l);
/* The engine of CA i (0: the first). Borrowed. */
struct at_engine *mgr_ca_list_engine(struct mgr_ca_list *l, size_t i);

/* One issuance at one CA (for instance through each challenge type in turn): at_engine_ensure's contract. */
typedef int (*mgr_ca_ensure_fn)(void *ctx, struct at_engine *e, int force, struct at_cert_record *rec,
				int *ordered);

/*
 * Makes sure a certificate for names is at hand. Without force, the newest record any CA of the list issued that
 * is valid and not due is returned as it is (no order). Otherwise the CAs are tried from the first: a CA that
 * cannot be reached, is not set up for us (EAB, profile: one error naming the setting), limits us, refuses the
 * validation or is backing off is passed over for the next, with a line saying why; the first that issues wins.
 * An issuance that got as far as finalize, a store error and a busy issue lock end the round at that CA (the
 * order is resumed there later; the next CA would only duplicate it). *used gets the index of the CA whose
 * engine holds *rec (on success) or of the last CA tried (on failure: at_acme_last_problem of its engine tells
 * the CA's side). Returns 0 or the last CA's error.
 */
int mgr_ca_ensure(struct mgr_ca_list *l, const char *const *names, size_t nnames, int force, mgr_ca_ensure_fn fn,
		  void *ctx, struct at_cert_record *rec, int *ordered, size_t *used) AT_MUST_CHECK;

/* For a tree that copies from the store (lead.c's publish_from_store): the store component (at_store_ca_component)
 * of the CA of AUTOTLS_CA whose record for name was written last, into ca (size bytes), with its stat. 0, or
 * AT_E_NOTFOUND when no CA has one. */
struct at_store;
struct at_store_stat;
int mgr_ca_newest_record(struct at_store *st, const char *name, char *ca, size_t size, struct at_store_stat *stat)
	AT_MUST_CHECK;

#endif
