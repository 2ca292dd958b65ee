/*
 * Events for the user's hook (AUTOTLS_HOOK; events.c): what the leader's loop (lead.c) and the on-demand thread
 * (ondemand.c) report, one call at each place. Nothing happens when no hook is set. Manager threads only,
 * holding the quiesce lock (released while the hook runs); never a server thread.
 */
#ifndef AUTOTLS_SHIM_MANAGER_EVENTS_H
#define AUTOTLS_SHIM_MANAGER_EVENTS_H

#include <stddef.h>
#include <time.h>

struct at_cert_record;
struct at_problem;

enum mgr_event { MGR_EVENT_OBTAINED, MGR_EVENT_RENEWED, MGR_EVENT_FAILED, MGR_EVENT_EXPIRING, MGR_EVENT_REVOKED };

/*
 * A certificate for names (names[0] its store name) is in service: rec's (borrowed; its chain, never its key,
 * is copied to the certificate file the hook is given). With ordered it was just issued: `obtained` when no
 * certificate for names[0] was known before (in this process, or as a certificate file of an earlier run),
 * `renewed` otherwise. Without ordered (found in the store) it is only remembered, for `expiring`.
 */
void mgr_event_cert(const char *const *names, size_t n, const struct at_cert_record *rec, int ordered);

/* An issuance attempt for names failed with rc (p: the CA's problem, may be NULL or empty): `failed`, with the
 * certificate still in service, when there is one, as its details. An AT_E_BACKOFF (nothing was tried) is no
 * event. */
void mgr_event_failed(const char *const *names, size_t n, int rc, const struct at_problem *p);

/* Fires `expiring` for each certificate in service that is within 7 days of its end (never more than a quarter
 * of its lifetime: a 6-day certificate warns 1.5 days before) and was not replaced, at most once a day per
 * certificate (a day divided by AUTOTLS_TEST_BACKOFF_SCALE in tests). Cheap when nothing is due: call it often. */
void mgr_event_tick(void);

/* The CA's OCSP responder says the certificate in service for names (not_after its end) is revoked (why: one
 * line, the time and reason): `revoked`, with the certificate file as for the others. staple.c's caller. */
void mgr_event_revoked(const char *const *names, size_t n, time_t not_after, const char *why);

/* Runs the hook for one event (see events.c for its environment); names is comma-separated, not_after 0 and
 * cert_file and error NULL when unknown. Waits for the hook (its time limit) with the quiesce lock released. */
void mgr_event_emit(enum mgr_event ev, const char *names, time_t not_after, const char *cert_file,
		    const char *error);

#endif
