/*
 * What the scripted CA (hostile_ca.h) offers that Debian's Pebble (2.4) does not, as a CA in production does it
 * (issue 14): ACME Renewal Information (RFC 9773) and profiles (draft-ietf-acme-profiles), and the answers a CA
 * gives new orders when it is overloaded or limits us. All of it is off until a test turns it on, so the hostile
 * modes behave as before.
 *   - ARI: the directory lists renewalInfo; every certificate it signs carries the Authority Key Identifier (so
 *     it has an ARI certID) and is remembered; GET <renewalInfo>/<certID> answers the certificate's window (by
 *     default 66 % to 75 % of its lifetime after notBefore, or as set) with the Retry-After the test set, 404 for
 *     a certID it never issued. hostile_acme_ari_move_past moves the window of every certificate issued so far into the
 *     past (a CA announcing a mass revocation). A new order's "replaces" is recorded and checked against what
 *     was issued; hostile_acme_refuse_replaces answers such an order 409 alreadyReplaced (RFC 9773 section 7.4)
 *     so the client must order again without it.
 *   - profiles: meta.profiles lists the names the test set; a new order's "profile" is recorded, and one the
 *     CA does not list is refused (400 invalidProfile). So are its identifiers (how many, and their values).
 *   - faults: every new order answered 503 (serverInternal) or 429 rateLimited, with a Retry-After.
 *   - the lifetime of the certificates it signs (default: 30 days, notBefore an hour back, as before).
 * Orders are still taken on trust (the authorization is already valid; JWS and nonces are not checked): the
 * engine's validation is tested against Pebble; what this CA adds is the schedule and the order's fields.
 */
#ifndef AUTOTLS_TESTS_HARNESS_HOSTILE_ACME_H
#define AUTOTLS_TESTS_HARNESS_HOSTILE_ACME_H

#include <stddef.h>

struct hostile_ca;

enum hostile_order_fault {
	HOF_NONE = 0,
	HOF_503,          /* 503 application/problem+json serverInternal, Retry-After */
	HOF_RATE_LIMITED, /* 429 urn:ietf:params:acme:error:rateLimited, Retry-After */
};

#define HOSTILE_ACME_ORDERS 32
#define HOSTILE_ACME_CERTS 64
#define HOSTILE_ACME_RI 512

/* One new order as the CA received it. */
struct hostile_acme_order {
	char profile[40];      /* "" when none was sent */
	char replaces[200];    /* "" when none was sent */
	char replaces_serial[80]; /* the serial (hex, upper case) of the certificate "replaces" names; "" unknown */
	int nnames;            /* the order's identifiers */
	char names[240];       /* their values, space-separated, cut at the field's end */
	int answered;          /* the HTTP status the order got */
};

/* One renewalInfo request. */
struct hostile_acme_ri {
	long long mono_ms;
	int cert;              /* index into the issued certificates, -1 unknown */
};

struct hostile_acme_state {
	int norders;
	struct hostile_acme_order orders[HOSTILE_ACME_ORDERS];
	int ncerts;
	char cert_serial[HOSTILE_ACME_CERTS][80]; /* hex, upper case, in the order issued */
	int nri;
	struct hostile_acme_ri ri[HOSTILE_ACME_RI];
};

/* ARI on or off (off: no renewalInfo in the directory, no answer at the URL). */
void hostile_acme_set_ari(struct hostile_ca *h, int on);
/* The Retry-After (seconds) of renewalInfo answers; 0: none. */
void hostile_acme_set_ari_retry_after(struct hostile_ca *h, long s);
/* The window of certificates issued from now on, in percent of their lifetime after notBefore (default 66..75). */
void hostile_acme_set_window(struct hostile_ca *h, int start_pct, int end_pct);
/* Every certificate issued so far: the window [now - 120 s, now - 60 s]. Later ones get the default. */
void hostile_acme_ari_move_past(struct hostile_ca *h);
/* A new order with "replaces": 409 alreadyReplaced while on. */
void hostile_acme_refuse_replaces(struct hostile_ca *h, int on);
/* meta.profiles: comma-separated names (NULL or "": none listed). */
void hostile_acme_set_profiles(struct hostile_ca *h, const char *names);
/* How every new order is answered from now on, and the Retry-After (seconds) of a fault. */
void hostile_acme_set_order_fault(struct hostile_ca *h, enum hostile_order_fault f, long retry_after_s);
/* The lifetime of the certificates signed from now on: notBefore now - 1 s, notAfter notBefore + s (0: 30 days,
 * notBefore an hour back). */
void hostile_acme_set_validity(struct hostile_ca *h, long s);
/* A copy of what the CA recorded. */
void hostile_acme_state(struct hostile_ca *h, struct hostile_acme_state *out);

#endif
