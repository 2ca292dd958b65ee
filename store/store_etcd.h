/*
 * The etcd v3 backend of struct at_store_ops (store/store_etcd.c). Chosen by at_store_open for
 * AUTOTLS_STORAGE=etcd://HOST:PORT[,HOST:PORT...]/PREFIX or etcds://...
 */
#ifndef AUTOTLS_STORE_STORE_ETCD_H
#define AUTOTLS_STORE_STORE_ETCD_H

#include "store/store.h"
#include "util/err.h"

/* Opens the etcd store spec names. TLS files from AUTOTLS_ETCD_CA, AUTOTLS_ETCD_CERT, AUTOTLS_ETCD_KEY; values
 * sealed with the key in the file AUTOTLS_STORAGE_KEY names (without it, one warning per process that keys are
 * kept in the clear). Checks that a member answers. Returns 0, AT_E_INVAL (spec), AT_E_NET (no member answers),
 * an error of at_seal_key_load (the key file), AT_E_NOMEM. Caller closes with at_store_close. */
int at_store_open_etcd(struct at_store **out, const char *spec) AT_MUST_CHECK;

/* The requests an etcd store object has sent so far (every try at every member); 0 for another backend. */
unsigned long at_store_etcd_requests(struct at_store *s);

/* Gives back every lock s holds now (each lease revoked: its key goes at once, so the next holder need not wait
 * for the lease to end), each with one round of the members and no pause (a pause would go through the wait
 * hooks, i.e. the manager's quiesce lock, which the caller does not own), none started past deadline_ms; the table of held locks is empty
 * after it, so a later refresh of one says AT_E_STATE. For a process that is leaving (shim/manager/fleet_exit.c);
 * callable from any thread while another uses s. *given: the leases revoked (NULL: not wanted). 0, or the first
 * error (those leases end by themselves). Another backend: 0, nothing given. */
int at_store_etcd_give_back(struct at_store *s, long deadline_ms, unsigned *given) AT_MUST_CHECK;

#endif
