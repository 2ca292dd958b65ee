/*
 * OCSP stapling for the managed certificate (staple.c), as CertMagic does it: the leader fetches the response
 * for the certificate in service from the responder its leaf names, checks it against the issuer, keeps it in
 * the store beside the certificate record (certificates/<ca>/<name>/ocsp: every process and host sharing the
 * store sees it) and publishes it in the certificate's record of the shared region, from which every process's
 * handshake staples it (shim/preload/hooks.c). Refreshed at half its validity (thisUpdate..nextUpdate); a
 * response that says revoked makes the leader order a new certificate at once. A certificate that names no
 * responder fetches and staples nothing; AUTOTLS_OCSP=off turns all of it off.
 *
 * Manager threads only (the leader's loop, and a tree's store poll), never a server thread: network and store I/O
 * happen here. One struct mgr_staple per certificate, owned by its caller; no lock of its own.
 */
#ifndef AUTOTLS_SHIM_MANAGER_STAPLE_H
#define AUTOTLS_SHIM_MANAGER_STAPLE_H

#include "acme/ocsp.h"
#include "shim/manager/manager.h"
#include "store/certs.h"
#include "util/err.h"

#include <stdint.h>
#include <time.h>

struct mgr_staple {
	uint64_t cert_hash;     /* the certificate this is for (FNV-1a of its chain), 0: none yet */
	char *url;              /* owned: the responder, NULL when the certificate names none */
	unsigned char *der;     /* owned: the last good response, NULL when none */
	size_t len;
	struct at_ocsp_status st;
	time_t refresh_at;      /* when to fetch again; 0: never (no responder, or stapling off) */
	int failures;           /* fetches that failed in a row */
	int revoked;            /* the last response said revoked */
	int must_staple;        /* the certificate carries TLS Feature status_request (RFC 7633) */
	int warned;             /* must-staple without a response was logged (once, until a response comes) */
};

/*
 * Makes s current for rec, the certificate in service for name at CA ca (a store component): for a new
 * certificate, the stored response when it is this certificate's and still fresh, else a fetch; for the same
 * certificate, a fetch once refresh_at is reached. A good response is stored and kept; a revoked one is
 * stored, dropped from s and *revoked set (with why, a line for the log and the hook). *changed: the staple to
 * publish changed. Never fails the caller: a responder that cannot be reached keeps the last response until
 * its nextUpdate and is asked again later (logged). A must-staple certificate (RFC 7633) left without a good
 * response after a fetch is warned about, once until it has one again.
 */
void mgr_staple_update(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		       const struct at_cert_record *rec, int *changed, int *revoked, char *why, size_t why_size);

/* For a process that only reads the store (lead.c's publish_from_store): the stored response for rec, when it
 * is rec's, good and fresh; never a fetch. *changed as above. */
void mgr_staple_load(struct mgr_staple *s, struct at_store *store, const char *ca, const char *name,
		     const struct at_cert_record *rec, int *changed);

/* What to publish: a good response that is still valid, else an empty reference. */
void mgr_staple_ref(const struct mgr_staple *s, struct mgr_staple_ref *out);

void mgr_staple_clear(struct mgr_staple *s);

/* A wait in seconds divided by AUTOTLS_TEST_BACKOFF_SCALE (tests only), never under 5 s (the least time between
 * two questions to a responder). */
long mgr_staple_scaled(long s);

/* The wait after failures tries failed in a row (a fetch, or staple_many.c's order for a revoked certificate):
 * 1 min doubling per failure to an hour, scaled as mgr_staple_scaled. */
long mgr_staple_retry_s(int failures);

#endif
