/*
 * The store: the one door through which certificates, keys, accounts and locks reach storage.
 *
 * Keys are paths of '/'-separated components, each matching [a-z0-9._-]{1,253} and never starting with '.' (so
 * never "." or "..", and a backend may keep its own files under dot-names; built with at_store_key(), which
 * refuses anything else), so a backend can map them to files or to a key/value engine
 * without escaping. Values are opaque bytes. Every value is treated as secret on disk (0600 files in 0700
 * folders): the store holds private keys, and per-value permission choices are how keys leak.
 *
 * Locks are named (same component rules), exclusive across processes and across hosts that share the backend,
 * and expire: a lock whose holder died is free again once its lease ends (and at once on the same host when the
 * holder's process is gone). A holder that works longer than the lease calls at_store_lock_refresh.
 *
 * A distributed backend implements struct at_store_ops; no caller changes.
 */
#ifndef AUTOTLS_STORE_STORE_H
#define AUTOTLS_STORE_STORE_H

#include "util/err.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct at_store;

struct at_store_stat {
	/* The file's mtime; on etcd the key's mod_revision. Compare two of them (larger is newer, equal is
	 * unchanged); do not show one as a time. */
	time_t modified;
	size_t size;
};

struct at_store_ops {
	/* *val is new (caller frees with at_secret_free(val, len)); AT_E_NOTFOUND when absent. */
	int (*load)(struct at_store *s, const char *key, char **val, size_t *len);
	/* Atomic and durable: a reader sees the old value or the new one, never a part; after return it survives a
	 * crash. */
	int (*store)(struct at_store *s, const char *key, const void *val, size_t len);
	/* Deletes a key, or every key below a prefix ending in '/'. Absent is not an error. */
	int (*del)(struct at_store *s, const char *key);
	/* Keys directly below prefix (which ends in '/'; "" is the root), sorted, each as a full key; a folder
	 * below prefix appears as a prefix ending in '/'. An absent prefix gives n = 0. *keys (each entry and the
	 * array) caller frees with at_store_list_free. Unfinished writes and lock files never appear. */
	int (*list)(struct at_store *s, const char *prefix, char ***keys, size_t *n);
	int (*stat)(struct at_store *s, const char *key, struct at_store_stat *st);
	/* Waits up to wait_ms (0: try once) for the named lock. Returns 0 or AT_E_LOCKED. Not recursive. */
	int (*lock)(struct at_store *s, const char *name, int lease_s, int wait_ms);
	/* Both return 0, AT_E_STATE (this store object does not hold name) or AT_E_LOCKED (the lease ended and
	 * another holder took the lock over: it is not ours any more). */
	int (*lock_refresh)(struct at_store *s, const char *name, int lease_s);
	int (*unlock)(struct at_store *s, const char *name);
	/* Releases the locks still held through this object. */
	void (*close)(struct at_store *s);
};

struct at_store {
	const struct at_store_ops *ops;
};

/*
 * Opens the file backend rooted at path (created 0700 when missing). path NULL means the default location:
 * $AUTOTLS_STORAGE, else /var/lib/autotls for root, else $XDG_DATA_HOME/autotls or ~/.local/share/autotls.
 * Caller closes with at_store_close.
 */
int at_store_open_file(struct at_store **out, const char *path) AT_MUST_CHECK;

/* The same, sharing live certificate records (certificates/...) read-only with group share_gid: those files
 * 0640 and their folders 0750 with that group; everything else (account keys, staging, locks) stays private.
 * A user who can read but not write the store gets a reader: loads work, locks and writes are refused. */
int at_store_open_file_shared(struct at_store **out, const char *path, gid_t share_gid)
	AT_MUST_CHECK;

/* Opens the backend spec names: etcd://HOST:PORT[,...]/PREFIX or etcds://... the etcd backend
 * (store/store_etcd.h; share_gid does not apply), anything else the file backend at that folder (NULL: the default
 * location), shared with share_gid ((gid_t)-1: nobody). Caller closes with at_store_close. */
int at_store_open(struct at_store **out, const char *spec, gid_t share_gid) AT_MUST_CHECK;

/* 1 when spec names a store that is not a folder on this host (etcd), else 0. */
int at_store_is_remote(const char *spec);

/* The default location as above; *out new, caller frees. */
int at_store_default_path(char **out) AT_MUST_CHECK;

/* A host's own folder when the store is not a folder here (etcd): the default location's base with "/local"
 * (/var/lib/autotls/local for root; AUTOTLS_STORAGE is not looked at). *out new, caller frees. */
int at_store_default_local_path(char **out) AT_MUST_CHECK;

/* Builds a key from components: at_store_key(buf, sizeof buf, "certificates", ca, name, "bundle.pem", NULL).
 * Returns 0, AT_E_BADNAME (a component breaks the rules) or AT_E_RANGE (buf too small). */
int at_store_key(char *buf, size_t size, const char *first, ...) __attribute__((sentinel, warn_unused_result));

void at_store_list_free(char **keys, size_t n);

static inline int at_store_load(struct at_store *s, const char *key, char **val, size_t *len)
{
	return s->ops->load(s, key, val, len);
}
static inline int at_store_put(struct at_store *s, const char *key, const void *val, size_t len)
{
	return s->ops->store(s, key, val, len);
}
static inline int at_store_del(struct at_store *s, const char *key)
{
	return s->ops->del(s, key);
}
static inline int at_store_list(struct at_store *s, const char *prefix, char ***keys, size_t *n)
{
	return s->ops->list(s, prefix, keys, n);
}
static inline int at_store_stat(struct at_store *s, const char *key, struct at_store_stat *st)
{
	return s->ops->stat(s, key, st);
}
static inline int at_store_lock(struct at_store *s, const char *name, int lease_s, int wait_ms)
{
	return s->ops->lock(s, name, lease_s, wait_ms);
}
static inline int at_store_lock_refresh(struct at_store *s, const char *name, int lease_s)
{
	return s->ops->lock_refresh(s, name, lease_s);
}
static inline int at_store_unlock(struct at_store *s, const char *name)
{
	return s->ops->unlock(s, name);
}
static inline void at_store_close(struct at_store *s)
{
	if (s)
		s->ops->close(s);
}

#endif
