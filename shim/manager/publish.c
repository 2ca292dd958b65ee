/*
 * The leader's side of publishing: the current certificate, the on-demand ones and the pending challenge
 * certificates, written together into the shared region (or, without one, straight into this process's cache).
 * The TLS-ALPN-01 solver (tlsalpn01_solver.c) adds and withdraws challenge certificates here. Runs on the
 * manager's threads (the leader's and the on-demand one), under state_mu.
 */
#include "shim/manager/manager.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHALLENGES 64

struct pem_pair {
	char name[256];
	char *chain;   /* owned */
	size_t chain_len;
	char *key;     /* owned, secret */
	size_t key_len;
};

static struct pem_pair current;                     /* the managed certificate */
static struct pem_pair challenges[MAX_CHALLENGES];  /* pending TLS-ALPN-01 certificates, by SNI */
static size_t nchallenges;
static uint64_t private_generation;                 /* without a shared region */
static struct pem_pair *extra;                      /* on-demand certificates, by first name (owned array) */
static size_t nextra, extra_cap;
/* The manager's threads (the leader's and the on-demand one) both publish: this guards the state above. Held
 * for memory work and the region's memcpy only, never across network or disk waits. */
static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;

static void pair_clear(struct pem_pair *p)
{
	free(p->chain);
	at_secret_free(p->key, p->key_len);
	memset(p, 0, sizeof(*p));
}

/* A copy of a certificate and its key for publishing (freed with pair_clear). */
static int pair_make(struct pem_pair *p, const char *name, const char *chain, size_t chain_len, const char *key,
		     size_t key_len)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->chain = malloc(chain_len);
	p->key = malloc(key_len);
	if (p->chain == NULL || p->key == NULL) {
		pair_clear(p);
		return AT_E_NOMEM;
	}
	memcpy(p->chain, chain, chain_len);
	p->chain_len = chain_len;
	memcpy(p->key, key, key_len);
	p->key_len = key_len;
	return 0;
}

static int write_all(void)
{
	struct at_buf b;
	int rc = 0;
	at_buf_init(&b, SHM_DATA_MAX);
	if (current.chain)
		rc = shm_append_record(&b, SHM_CERT, current.name, current.chain, current.chain_len, current.key,
				       current.key_len);
	for (size_t i = 0; rc == 0 && i < nextra; i++)
		rc = shm_append_record(&b, SHM_CERT, extra[i].name, extra[i].chain, extra[i].chain_len, extra[i].key,
				       extra[i].key_len);
	for (size_t i = 0; rc == 0 && i < nchallenges; i++)
		rc = shm_append_record(&b, SHM_CHALLENGE, challenges[i].name, challenges[i].chain,
				       challenges[i].chain_len, challenges[i].key, challenges[i].key_len);
	if (rc == 0) {
		if (mgr_host->shm) {
			struct shm_region *w = mgr_region_writable(); /* the server's own mapping is read-only */
			rc = w ? shm_write(w, b.data ? b.data : "", b.len) : AT_E_PERM;
			if (rc == 0)
				rc = mgr_sync();
		} else {
			rc = mgr_sync_payload((const unsigned char *)(b.data ? b.data : ""), b.len, ++private_generation);
		}
	}
	at_buf_free_secret(&b);
	return rc;
}

int mgr_publish_certs(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name)
{
	struct pem_pair next;
	if (pair_make(&next, name, chain, chain_len, key, key_len) != 0)
		return AT_E_NOMEM;
	pthread_mutex_lock(&state_mu);
	if (current.chain && current.chain_len == chain_len && memcmp(current.chain, chain, chain_len) == 0) {
		pthread_mutex_unlock(&state_mu);
		pair_clear(&next);
		return AT_E_STATE; /* nothing new */
	}
	struct pem_pair old = current;
	current = next;
	int rc = write_all();
	if (rc != 0) {
		/* Keep serving what was served before. */
		pair_clear(&current);
		current = old;
		pthread_mutex_unlock(&state_mu);
		return rc;
	}
	pthread_mutex_unlock(&state_mu);
	pair_clear(&old);
	return 0;
}

int mgr_publish_challenge(const char *sni, char **chain, size_t chain_len, char **key, size_t key_len)
{
	int rc;
	pthread_mutex_lock(&state_mu);
	if (nchallenges == MAX_CHALLENGES) {
		rc = AT_E_RANGE;
	} else {
		struct pem_pair *p = &challenges[nchallenges++];
		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", sni);
		p->chain = *chain;
		p->chain_len = chain_len;
		p->key = *key;
		p->key_len = key_len;
		*chain = *key = NULL;
		rc = write_all();
	}
	pthread_mutex_unlock(&state_mu);
	free(*chain);
	at_secret_free(*key, key_len);
	*chain = *key = NULL;
	return rc;
}

int mgr_withdraw_challenge(const char *sni)
{
	pthread_mutex_lock(&state_mu);
	for (size_t i = 0; i < nchallenges; i++) {
		if (strcmp(challenges[i].name, sni) != 0)
			continue;
		pair_clear(&challenges[i]);
		challenges[i] = challenges[nchallenges - 1];
		memset(&challenges[nchallenges - 1], 0, sizeof(challenges[0]));
		nchallenges--;
		break;
	}
	int rc = write_all();
	pthread_mutex_unlock(&state_mu);
	return rc;
}

int mgr_publish_extra(const char *chain, size_t chain_len, const char *key, size_t key_len, const char *name)
{
	struct pem_pair next;
	if (pair_make(&next, name, chain, chain_len, key, key_len) != 0)
		return AT_E_NOMEM;
	pthread_mutex_lock(&state_mu);
	size_t i = 0;
	while (i < nextra && strcmp(extra[i].name, name) != 0)
		i++;
	if (i < nextra && extra[i].chain_len == chain_len && memcmp(extra[i].chain, chain, chain_len) == 0) {
		pthread_mutex_unlock(&state_mu);
		pair_clear(&next);
		return AT_E_STATE; /* nothing new: every process would parse the region again for nothing */
	}
	if (i == nextra && nextra == extra_cap) {
		/* No count of its own: the region's size is the limit (shm_write says AT_E_TOOBIG). */
		size_t nc = extra_cap ? extra_cap * 2 : 16;
		struct pem_pair *nv = realloc(extra, nc * sizeof(*nv));
		if (nv == NULL) {
			pthread_mutex_unlock(&state_mu);
			pair_clear(&next);
			return AT_E_NOMEM;
		}
		extra = nv;
		extra_cap = nc;
	}
	struct pem_pair old;
	memset(&old, 0, sizeof(old));
	if (i < nextra)
		old = extra[i];
	else
		nextra++;
	extra[i] = next;
	int rc = write_all();
	if (rc != 0) {
		/* The region is full or the write failed: serve what was served before. */
		pair_clear(&extra[i]);
		if (old.chain)
			extra[i] = old;
		else
			extra[i] = extra[--nextra];
		pthread_mutex_unlock(&state_mu);
		return rc;
	}
	pthread_mutex_unlock(&state_mu);
	pair_clear(&old);
	return 0;
}
