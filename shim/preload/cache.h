/*
 * The certificate cache the handshake path reads: an immutable snapshot of the managed certificates and the
 * pending TLS-ALPN-01 challenge certificates, replaced as a whole by the manager.
 *
 * Readers (server threads, every handshake) load one atomic pointer and use the snapshot for the rest of the
 * callback: no lock, no reference count, no allocation. The publisher swaps the pointer and keeps retired
 * snapshots for a grace period (CACHE_GRACE_S) before freeing them, far longer than any callback runs; what a
 * callback hands to OpenSSL (SSL_use_cert_and_key) is up-referenced by OpenSSL itself.
 */
#ifndef AUTOTLS_SHIM_PRELOAD_CACHE_H
#define AUTOTLS_SHIM_PRELOAD_CACHE_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <time.h>

#define CACHE_GRACE_S 30

struct cache_lazy; /* the snapshot builder's own: a record parsed when a handshake first asks for it */

struct cache_cert {
	const char *name;        /* lowercase DNS name or IP literal; "*.x" covers one label */
	X509 *leaf;              /* owned by the snapshot's builder (free_fn; the manager's parsed entries) */
	STACK_OF(X509) *chain;   /* likewise, may be NULL */
	EVP_PKEY *key;           /* likewise */
	time_t not_after;
	unsigned refused_levels; /* bit L: OpenSSL refuses this certificate at security level L (0..5), found
				  * once when the snapshot is built (cache_refused_levels); such a handshake keeps
				  * the host's own certificate */
	const char *refused_why; /* OpenSSL's reason at the lowest refused level (a static string), or NULL */
	const unsigned char *ocsp; /* the OCSP response to staple (DER, owned like leaf), NULL when none */
	size_t ocsp_len;
	time_t ocsp_until;       /* not stapled from then on (the response's nextUpdate) */
	struct cache_lazy *lazy; /* set (with leaf, chain and key NULL and no refusals yet): parsed on first use,
				  * through cache_snapshot.resolve, which also checks the expiry (not_after is then
				  * the far future: a renewal replaces the certificate without a new snapshot) */
	int ask_due;             /* set by resolve, with on-demand on, once per ondemand_touch_s per record and
				  * process: the handshake tells the manager the name was asked for
				  * (shim/ondemand_idle.h) */
};

struct cache_snapshot {
	uint64_t generation;
	size_t ncerts;
	struct cache_cert *certs;       /* owned array; one entry per name a certificate covers */
	int has_ip;                     /* some certificate covers an IP address (RFC 8738): look up clients
					 * without SNI by the address they connected to */
	size_t nchallenges;
	struct cache_cert *challenges;  /* owned array: TLS-ALPN-01 certificates by SNI (chain NULL) */
	uint32_t *index;                /* owned by the cache (cache_publish builds it): open addressing over
					 * certs by name, slot = position + 1, 0 empty; NULL: lookups scan */
	size_t index_mask;              /* slots - 1 (a power of two, at least twice ncerts) */
	void (*free_fn)(struct cache_snapshot *); /* frees everything else, set by whoever built it */
	/* For an entry with lazy set: *out becomes a copy of c with leaf, chain, key and refusals filled, the
	 * record parsed on its first use in this process (the only allocation, once per record; no lock that the
	 * manager holds across I/O); later handshakes load one pointer. Returns out, or NULL when the record
	 * cannot be had (replaced meanwhile, or not parsable): the handshake keeps the host's certificate. */
	const struct cache_cert *(*resolve)(const struct cache_cert *c, struct cache_cert *out);
	/* For an entry with lazy set: its certificate's notAfter now (one atomic load: a renewal changes it
	 * without a new snapshot), 0 when withdrawn. Lookups skip an expired entry through it, so that an expired
	 * certificate for a host never hides a valid wildcard that covers it. NULL: lookups use not_after. */
	time_t (*lazy_not_after)(const struct cache_cert *c);
	struct cache_snapshot *retired_next;
	long retired_at_ms;             /* at_clock_ms: monotonic: a wall clock set back would keep it for ever */
};

/* The current snapshot, or NULL. Valid until the calling callback returns. */
const struct cache_snapshot *cache_current(void);

/* Makes s current (the cache takes it) and frees snapshots retired more than CACHE_GRACE_S ago. Builds s's
 * name index first (without memory for it, lookups in s scan). s NULL: only the freeing (the manager's thread
 * asks on each wake-up, so the snapshots a burst of changes retired are freed without waiting for a next
 * publish). Called by the manager's thread only. */
void cache_publish(struct cache_snapshot *s);

/* Lookups in a snapshot: a managed certificate for an SNI (exact, then one-label wildcard; O(1) through the
 * index, no allocation) or a challenge certificate. NULL when none, or when the certificate has expired. */
const struct cache_cert *cache_find_cert(const struct cache_snapshot *s, const char *sni, time_t now);
const struct cache_cert *cache_find_challenge(const struct cache_snapshot *s, const char *sni);

/* The security level a handshake runs at, as the bit cache_cert.refused_levels uses (levels above 5 count as 5). */
unsigned cache_level_bit(int level);

/* Notes that a handshake at the level of bit kept the host's certificate because of a refusal (a relaxed load
 * first: the atomic OR happens once per level and process, never per handshake). */
void cache_note_refused(unsigned bit);

/* The levels at which handshakes in this process kept the host's certificate for a refused managed one: the
 * manager thread reads it to log each refused certificate once (mgr_report_refusals). */
unsigned cache_refused_seen(void);

#endif
