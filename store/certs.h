/*
 * Certificate records in the store: one record per managed certificate, holding the private key, the chain
 * and a small JSON header, written as one value so that no reader can ever see a key from one issuance with a
 * certificate from another. A new record is staged (written under staging/), read back and checked (the key
 * matches, the chain parses, the names are covered) and only then promoted to certificates/; on any failure the
 * live record stays untouched.
 *
 * Layout (keys):  certificates/<ca>/<first-name>/record     the live record
 *                 staging/<ca>/<first-name>/record          a candidate, deleted after promotion
 * <ca> is at_store_ca_component() of the directory URL.
 */
#ifndef AUTOTLS_STORE_CERTS_H
#define AUTOTLS_STORE_CERTS_H

#include "store/store.h"
#include "util/err.h"
#include "util/x509.h"

#include <stddef.h>

struct at_cert_record {
	char *key_pem;        /* owned, secret: cleansed on clear */
	size_t key_len;
	char *chain_pem;      /* owned: leaf first */
	size_t chain_len;
	char **names;         /* owned: the names the certificate was ordered for, normalised */
	size_t nnames;
	char *ari_cert_id;    /* owned, may be NULL: RFC 9773 certificate identifier */
	long long renew_after; /* unix seconds chosen for the next renewal (ARI or lifetime based), 0 if unset */
	struct at_cert_info info; /* filled on load */
};

/* A store component naming a CA, from its directory URL: host plus path, with anything outside [a-z0-9.-]
 * folded to '-' (e.g. "acme-v02.api.letsencrypt.org-directory"). out holds at least 254 bytes. */
int at_store_ca_component(char *out, size_t size, const char *directory_url) AT_MUST_CHECK;

/* Stages, reads back, checks (the chain parses, the key matches the leaf, every name is covered; no trust or
 * expiry check: those are the caller's policy, through at_chain_check) and promotes rec for ca, a component from
 * at_store_ca_component. rec is borrowed; its names must be normalised and the first is the record's store name;
 * info is ignored. Returns 0 or the check's or the store's error; the live record is unchanged on error and the
 * staged copy is deleted in every case. Callers serialise saves of one name (a store lock). */
int at_cert_record_save(struct at_store *s, const char *ca, const struct at_cert_record *rec)
	AT_MUST_CHECK;

/* Loads and re-checks (as in save) the live record for name (normalised) into rec, info filled in; free with
 * at_cert_record_clear. AT_E_NOTFOUND when there is none, AT_E_PARSE when it is not a whole record. */
int at_cert_record_load(struct at_store *s, const char *ca, const char *name, struct at_cert_record *rec)
	AT_MUST_CHECK;

/* Frees what rec owns (cleansing the key) and zeroes it. Safe on a zeroed or already cleared record. */
void at_cert_record_clear(struct at_cert_record *rec);

#endif
