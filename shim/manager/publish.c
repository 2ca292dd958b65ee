/*
 * The leader's side of publishing: the current certificate, the on-demand ones and the pending challenge
 * certificates, each its own record in the shared region (or, without one, in a private region of this
 * process, which its own cache follows the same way). A publish writes one record (shm_put): what it costs
 * does not grow with how many certificates the region holds, and an unchanged record is never written again.
 * The TLS-ALPN-01 solver (tlsalpn01_solver.c) adds and withdraws challenge certificates here. Runs on the
 * manager's threads (the leader's and the on-demand one), under state_mu.
 */
#include "shim/manager/manager.h"
#include "shim/manager/control.h"
#include "util/fnv.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/x509.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHALLENGES 64

/* The manager's threads (the leader's and the on-demand one) both publish: this guards the state below and the
 * region's writer (shm_put is one writer's). Held for memory work and the region's copy only, never across
 * network or disk waits. */
static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shm_region *private_region; /* without a shared region */
static char current_name[256];            /* the managed certificate's record, as this process published it */
static uint64_t current_hash;             /* of its chain (FNV-1a), 0: none published by this process */
static size_t current_len;
static size_t nchallenges;
static int batching; /* mgr_publish_batch: this process's own cache follows once, at the end (a count: the
		      * on-demand load and the stapler's turns may bracket at once) */

/* Where this process's publisher writes: a writable view of the tree's region (the server's own mapping is
 * read-only, issue 9 item 3; NULL when this process may not write it), or a region of its own when there is no
 * shared one. */
static struct shm_region *writer(void)
{
	if (mgr_host->shm != NULL)
		return mgr_region_writable();
	if (private_region == NULL)
		private_region = shm_create_private();
	return private_region;
}

/* What this process's own cache follows: the mapping every process reads (the read-only one; an in-process
 * leader's writable view is not inherited by its children, and a snapshot may refer to the region later). */
static struct shm_region *reader(void)
{
	return mgr_host->shm != NULL ? mgr_host->shm : private_region;
}

static uint64_t chain_hash64(const char *p, size_t n)
{
	return at_fnv1a64(p, n) | 1; /* never 0: 0 means none published */
}

/* The intermediates of chain (what follows the leaf's block) into their SHM_BLOB record, named by their SHA-256,
 * written once however many certificates name them (AT_E_STATE after the first); *leaf_len the leaf's block.
 * 0 with meta's blob set, or an error (the record then carries the whole chain). */
static int put_blob(struct shm_region *r, const char *chain, size_t chain_len, size_t *leaf_len, char name[80],
		    struct shm_meta *meta)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	const char *b0 = memmem(chain, chain_len, begin, sizeof(begin) - 1);
	if (b0 == NULL)
		return AT_E_PARSE;
	size_t from = (size_t)(b0 - chain) + sizeof(begin) - 1;
	const char *b1 = memmem(chain + from, chain_len - from, begin, sizeof(begin) - 1);
	if (b1 == NULL)
		return AT_E_NOTFOUND; /* no intermediates */
	size_t at = (size_t)(b1 - chain);
	unsigned char md[SHA256_DIGEST_LENGTH];
	if (SHA256((const unsigned char *)b1, chain_len - at, md) == NULL)
		return AT_E_CRYPTO;
	memcpy(name, "sha256:", 7);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(name + 7 + 2 * i, 3, "%02x", md[i]);
	int rc = shm_put(r, SHM_BLOB, name, b1, chain_len - at, "", 0, NULL);
	if (rc != 0 && rc != AT_E_STATE)
		return rc;
	if ((rc = shm_slot_of(r, SHM_BLOB, name, &meta->blob_slot, &meta->blob_version)) != 0)
		return rc;
	meta->blob = name;
	*leaf_len = at;
	return 0;
}

/* One record written, then this process's own cache brought up to date (the other processes follow on their
 * own). AT_E_STATE: the region holds exactly this already. */
static int put(enum shm_kind kind, const char *name, const char *chain, size_t chain_len, const char *key,
	       size_t key_len, int lazy, const struct mgr_staple_ref *staple)
{
	struct shm_region *r = writer();
	if (r == NULL)
		return mgr_host->shm != NULL ? AT_E_PERM : AT_E_NOMEM;
	/* The leaf's names and expiry go with the record, read once here: with them every other process indexes
	 * it without parsing, and parses it only for a handshake that asks (sync.c). Without them (a chain that
	 * does not parse here) the followers parse it when they read it, and say so. The intermediates go into
	 * a blob shared by every certificate of that CA (stored once in the region, parsed once per process). */
	STACK_OF(X509) *sk = NULL;
	struct at_cert_info info;
	struct shm_meta meta = { 0 };
	char blob[80];
	size_t record_chain_len = chain_len;
	memset(&info, 0, sizeof(info));
	if (staple != NULL && staple->len > 0) {
		meta.ocsp = staple->der;
		meta.ocsp_len = staple->len;
		meta.ocsp_until = (int64_t)staple->until;
	}
	int have = lazy && kind == SHM_CERT && at_chain_parse(&sk, chain, chain_len) == 0 &&
		   at_cert_info_get(&info, sk_X509_value(sk, 0)) == 0 && info.nnames > 0 && info.nnames <= 255;
	if (have) {
		meta.not_after = (int64_t)info.not_after;
		meta.nnames = info.nnames;
		meta.names = info.names;
		if (put_blob(r, chain, chain_len, &record_chain_len, blob, &meta) != 0) {
			meta.blob = NULL;
			record_chain_len = chain_len;
		}
	}
	int rc = shm_put(r, kind, name, chain, record_chain_len, key, key_len, &meta);
	at_cert_info_clear(&info);
	sk_X509_pop_free(sk, X509_free);
	if (rc == 0 && !batching)
		rc = mgr_sync_region(reader());
	return rc;
}

int mgr_publish_certs(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name)
{
	return mgr_publish_stapled(chain, chain_len, key, key_len, name, NULL);
}

int mgr_publish_stapled(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name,
			const struct mgr_staple_ref *staple)
{
	uint64_t h = chain_hash64(chain, chain_len);
	/* The staple is part of what was published: a new response (or none any more) is a change. */
	if (staple != NULL && staple->len > 0)
		h = (h ^ at_fnv1a64(staple->der, staple->len) ^ (uint64_t)staple->until) | 1;
	pthread_mutex_lock(&state_mu);
	if (current_hash == h && current_len == chain_len && strcmp(current_name, name) == 0) {
		pthread_mutex_unlock(&state_mu);
		return AT_E_STATE; /* nothing new */
	}
	/* Not lazy: the managed certificate is parsed by every process when it is published, so that a process
	 * forked later (a worker, after a reload) has it parsed whatever becomes of the region. */
	int rc = put(SHM_CERT, name, chain, chain_len, key, key_len, 0, staple);
	if (rc == AT_E_STATE)
		rc = 0; /* a manager before this one published it: served already, nothing is written */
	if (rc == 0) {
		if (current_hash != 0 && strcmp(current_name, name) != 0 &&
		    shm_drop(writer(), SHM_CERT, current_name) == 0 && mgr_sync_region(reader()) != 0)
			at_log_debug("the cache follows the withdrawn %s at the next change", current_name);
		snprintf(current_name, sizeof(current_name), "%s", name);
		current_hash = h;
		current_len = chain_len;
	}
	pthread_mutex_unlock(&state_mu);
	return rc;
}

uint64_t mgr_published_version(void)
{
	uint32_t slot;
	uint64_t version = 0;
	pthread_mutex_lock(&state_mu);
	struct shm_region *r = writer();
	if (r == NULL || current_hash == 0 || shm_slot_of(r, SHM_CERT, current_name, &slot, &version) != 0)
		version = 0;
	pthread_mutex_unlock(&state_mu);
	return version;
}

int mgr_publish_challenge(const char *sni, char **chain, size_t chain_len, char **key, size_t key_len)
{
	int rc;
	pthread_mutex_lock(&state_mu);
	if (nchallenges == MAX_CHALLENGES) {
		rc = AT_E_RANGE;
	} else {
		rc = put(SHM_CHALLENGE, sni, *chain, chain_len, *key, key_len, 0, NULL);
		if (rc == AT_E_STATE)
			rc = 0;
		if (rc == 0)
			nchallenges++;
	}
	pthread_mutex_unlock(&state_mu);
	free(*chain);
	at_secret_free(*key, key_len);
	*chain = *key = NULL;
	return rc;
}

int mgr_withdraw_challenge(const char *sni)
{
	int rc = 0;
	pthread_mutex_lock(&state_mu);
	struct shm_region *r = writer();
	if (r != NULL && shm_drop(r, SHM_CHALLENGE, sni) == 0) {
		nchallenges--;
		rc = mgr_sync_region(reader());
	}
	pthread_mutex_unlock(&state_mu);
	return rc;
}

int mgr_publish_extra(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name)
{
	return mgr_publish_extra_stapled(chain, chain_len, key, key_len, name, NULL);
}

int mgr_publish_extra_stapled(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name,
			      const struct mgr_staple_ref *staple)
{
	/* No count of its own: the region's size is the limit (shm_put says AT_E_TOOBIG); AT_E_STATE when the
	 * region holds this very certificate (every process would parse it again for nothing). */
	pthread_mutex_lock(&state_mu);
	int rc = put(SHM_CERT, name, chain, chain_len, key, key_len, 1, staple);
	pthread_mutex_unlock(&state_mu);
	return rc;
}

/* Told of every withdrawal of an extra record (staple_many.c's, once it has entries); a pointer rather than a call
 * so that this file stays free of the stapler (the unit tests link it alone). */
static void (*withdraw_listener)(const char *name);

void mgr_publish_on_withdraw(void (*fn)(const char *name))
{
	__atomic_store_n(&withdraw_listener, fn, __ATOMIC_RELEASE);
}

int mgr_withdraw_extra(const char *name)
{
	int rc = 0;
	/* First, outside state_mu (the listener's lock comes before it): its staple is never published again. */
	void (*listener)(const char *) = __atomic_load_n(&withdraw_listener, __ATOMIC_ACQUIRE);
	if (listener != NULL)
		listener(name);
	pthread_mutex_lock(&state_mu);
	struct shm_region *r = writer();
	if (r != NULL && shm_drop(r, SHM_CERT, name) == 0)
		rc = mgr_sync_region(reader());
	pthread_mutex_unlock(&state_mu);
	return rc;
}

void mgr_publish_batch(int on)
{
	pthread_mutex_lock(&state_mu);
	struct shm_region *r = writer();
	int edge = on ? batching++ == 0 : batching > 0 && --batching == 0;
	if (r != NULL && edge) {
		shm_hold_wakes(r, on);
		if (!on && mgr_sync_region(reader()) != 0)
			at_log_debug("this process's cache follows the batch at the next change");
	}
	pthread_mutex_unlock(&state_mu);
}
