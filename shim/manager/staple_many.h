/*
 * OCSP stapling for every other managed certificate (staple_many.c): the on-demand ones (ondemand.c) and the
 * sites file's (sites_pool.c), as staple.c does it for AUTOTLS_DOMAINS' certificate, at the scale of 100,000
 * certificates.
 *
 * Who calls it: the threads that publish those certificates (the on-demand thread, the sites workers) publish
 * through mgr_staple_publish_extra instead of mgr_publish_extra; publish.c's mgr_withdraw_extra calls
 * mgr_staple_many_forget (registered with mgr_publish_on_withdraw). Manager threads only, quiesce lock held;
 * never a server thread. The fetching is done by one thread of this file's own, started on the first
 * certificate that names a responder.
 */
#ifndef AUTOTLS_SHIM_MANAGER_STAPLE_MANY_H
#define AUTOTLS_SHIM_MANAGER_STAPLE_MANY_H

#include "store/certs.h"
#include "util/err.h"

/*
 * Publishes rec (borrowed), the certificate in service for the region record name, issued by CA ca (a store
 * component), with its OCSP staple: the one already held when rec is the certificate published last for name,
 * else the response stored beside the record when it is rec's and still fresh (no fetch: a restart with 100,000
 * stored certificates asks no responder for what it has), else none yet, and the stapling thread fetches it
 * (a due time per certificate, a bounded number of fetches per turn). A certificate that names no responder is
 * published as it is and costs nothing more. mgr_publish_extra's contract (0, AT_E_STATE, its errors).
 * st is the caller's store handle (the stored response is read through it); the caller holds the quiesce lock.
 */
int mgr_staple_publish_extra(struct at_store *st, const char *ca, const char *name,
			     const struct at_cert_record *rec) AT_MUST_CHECK;

/* name's record is withdrawn (publish.c, before it drops the record): its staple is no longer kept, fetched or
 * published. */
void mgr_staple_many_forget(const char *name);

#endif
