/*
 * From the shared region to this process's cache: copy the region under its seqlock, parse each record once
 * (PEM to X509 and EVP_PKEY), build an immutable snapshot with one entry per name a certificate covers, and
 * publish it to the preload's cache. Runs on the manager thread, and on a server thread for a ClientHello
 * that offers only acme-tls/1 (sync_now).
 */
#include "shim/manager/manager.h"
#include "acme/csr.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/x509.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pthread_mutex_t mgr_publish_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t local_generation; /* guarded by mgr_publish_mu */
/* A region that could not be read or parsed at generation bad_generation and write sequence bad_seq: every
 * process keeps serving its last good snapshot, says so once, and reads again only when the region changes. */
static uint64_t bad_generation;   /* guarded by mgr_publish_mu */
static uint32_t bad_seq;
static int bad;

static void free_entries(struct cache_cert *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		X509_free(v[i].leaf);
		EVP_PKEY_free(v[i].key);
		sk_X509_pop_free(v[i].chain, X509_free);
	}
	free(v);
}

static void snapshot_free(struct cache_snapshot *s)
{
	free_entries(s->certs, s->ncerts);
	free_entries(s->challenges, s->nchallenges);
	free(s);
}

/* Appends one entry (taking new references) to a growing array. */
static int add_entry(struct cache_cert **v, size_t *n, size_t *cap, const char *name, X509 *leaf,
		     STACK_OF(X509) *extra, EVP_PKEY *key, time_t not_after)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct cache_cert *nv = realloc(*v, nc * sizeof(*nv));
		if (nv == NULL)
			return AT_E_NOMEM;
		*v = nv;
		*cap = nc;
	}
	struct cache_cert *c = &(*v)[*n];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	X509_up_ref(leaf);
	c->leaf = leaf;
	EVP_PKEY_up_ref(key);
	c->key = key;
	c->chain = extra ? X509_chain_up_ref(extra) : NULL;
	c->not_after = not_after;
	(*n)++;
	return 0;
}

static int add_record(struct cache_snapshot *s, size_t *cap_c, size_t *cap_ch, const struct shm_record *r)
{
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	struct at_cert_info info;
	int rc = at_chain_parse(&chain, r->chain, r->chain_len);
	if (rc != 0)
		return rc;
	rc = at_key_from_pem(&key, r->key, r->key_len);
	if (rc != 0) {
		sk_X509_pop_free(chain, X509_free);
		return rc;
	}
	X509 *leaf = sk_X509_shift(chain);
	memset(&info, 0, sizeof(info));
	rc = at_cert_info_get(&info, leaf);
	unsigned refused = 0;
	const char *why = NULL;
	/* Our own self-signed TLS-ALPN-01 certificates pass at every level; only issued ones are probed. */
	if (rc == 0 && r->kind != SHM_CHALLENGE)
		rc = mgr_refused_levels(leaf, key, chain, &refused, &why);
	if (rc == 0) {
		if (r->kind == SHM_CHALLENGE) {
			rc = add_entry(&s->challenges, &s->nchallenges, cap_ch, r->name, leaf, NULL, key, info.not_after);
		} else {
			for (size_t i = 0; rc == 0 && i < info.nnames; i++) {
				rc = add_entry(&s->certs, &s->ncerts, cap_c, info.names[i], leaf,
					       sk_X509_num(chain) > 0 ? chain : NULL, key, info.not_after);
				if (rc == 0) {
					s->certs[s->ncerts - 1].refused_levels = refused;
					s->certs[s->ncerts - 1].refused_why = why;
				}
				s->has_ip |= at_name_is_ip(info.names[i]);
			}
		}
	}
	at_cert_info_clear(&info);
	X509_free(leaf);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

int mgr_sync_payload(const unsigned char *payload, size_t len, uint64_t generation)
{
	struct cache_snapshot *s = calloc(1, sizeof(*s));
	size_t cap_c = 0, cap_ch = 0, off = 0;
	struct shm_record r;
	int more, rc = 0;
	if (s == NULL)
		return AT_E_NOMEM;
	s->generation = generation;
	s->free_fn = snapshot_free;
	while ((more = shm_next_record(payload, len, &off, &r)) == 0) {
		rc = add_record(s, &cap_c, &cap_ch, &r);
		if (rc != 0) {
			at_log_error("a certificate in the shared region does not parse (%s); keeping the current ones",
				     at_strerror(rc));
			break;
		}
	}
	if (rc == 0 && more != AT_E_NOTFOUND) {
		rc = more; /* AT_E_PARSE: a malformed payload */
		at_log_error("the shared region's records are malformed (%s); keeping the current ones", at_strerror(rc));
	}
	if (rc != 0) {
		snapshot_free(s);
		return rc;
	}
	if (mgr_host->publish == NULL) {
		snapshot_free(s);
		return 0;
	}
	mgr_host->publish(s);
	return 0;
}

int mgr_sync(void)
{
	struct shm_region *shm = mgr_host->shm;
	unsigned char *p = NULL;
	size_t len = 0;
	uint64_t gen = 0;
	int rc = 0;

	/* The manager process serves no handshakes: it has no cache to fill. */
	if (shm == NULL || mgr_host->publish == NULL)
		return 0;
	pthread_mutex_lock(&mgr_publish_mu);
	uint64_t now_gen = atomic_load(&shm->generation);
	if (now_gen == local_generation ||
	    (bad && now_gen == bad_generation && atomic_load(&shm->seq) == bad_seq))
		goto out;
	rc = shm_read(shm, &p, &len, &gen);
	if (rc == 0 && gen != local_generation) {
		rc = mgr_sync_payload(p, len, gen);
		if (rc == 0) {
			local_generation = gen;
			bad = 0;
			at_log_debug("pid %d now serves generation %llu", (int)getpid(), (unsigned long long)gen);
		}
	}
	shm_copy_free(p, len);
	if (rc != 0 && rc != AT_E_NOTFOUND && rc != AT_E_NOMEM) {
		if (!bad && rc != AT_E_PARSE) /* mgr_sync_payload said why already */
			at_log_error("pid %d cannot read the shared region (%s); it keeps serving the certificates it "
				     "has until the region is written again", (int)getpid(), at_strerror(rc));
		bad = 1;
		bad_generation = now_gen;
		bad_seq = atomic_load(&shm->seq);
	}
out:
	pthread_mutex_unlock(&mgr_publish_mu);
	return rc == AT_E_NOTFOUND ? 0 : rc;
}
