/*
 * The etcd v3 backend of struct at_store_ops, through the JSON gateway (store/etcd_client.c).
 *
 * Keys: the store key k lives at "<prefix>/k"; a lock named n at "<prefix>/.locks/n" (a dot-name no store key
 * can have, so list() never shows it). Values are the bytes the caller stored, or, with AUTOTLS_STORAGE_KEY,
 * those bytes sealed (store/seal.c) with k as associated data. etcd has no modification time: stat() gives the
 * key's mod_revision as `modified`, which orders writes the way callers compare it (newer is larger, equal is
 * unchanged).
 *
 * Locks are etcd leases: lock() grants a lease of lease_s seconds and puts the lock key attached to it in a
 * transaction that succeeds only if the key does not exist (create_revision == 0); a holder that dies stops
 * renewing and etcd deletes the key when the lease ends. refresh() is a lease keepalive (which renews the lease to
 * the length it was granted with); unlock() revokes the lease, which deletes the key in the same step. A put or
 * delete made while this object holds locks is a transaction that compares each held lock key's create_revision
 * with the one we created: a holder whose lease ended while it worked (a pause, a partition) cannot overwrite
 * what the next holder wrote; its write fails with AT_E_LOCKED.
 *
 * Owns: the client, the seal key, the table of held locks under held_mu (innermost but for the client's own
 * mutex, never held across a request or a pause). Called from any thread; never logs a value.
 */
#include "store/store_etcd.h"
#include "store/etcd_client.h"
#include "store/etcd_url.h"
#include "store/keypath.h"
#include "store/lock_file.h"
#include "store/seal.h"
#include "util/clock.h"
#include "util/keys.h"
#include "util/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VALUE_MAX (1024 * 1024)
#define LEASE_MAX (7 * 86400)
#define OP_DEADLINE_MS 15000 /* one operation, failover and a leader election included */
#define HELD_MAX 64
#define LIST_MAX 100000

struct held {
	char name[AT_STORE_COMPONENT_MAX + 1];
	char lease[24];      /* the lease ID as etcd writes it (a decimal int64) */
	long long create_rev;
	long kept_ms;        /* at_clock_ms before the request that etcd last confirmed the lease on (grant, keepalive):
	                      * the lease lives at least lease_s from then */
};

struct store_etcd {
	struct at_store base; /* first */
	struct at_etcd *c;
	struct at_seal_key *seal; /* NULL: values in the clear */
	char prefix[AT_ETCD_PREFIX_MAX + 2]; /* "<prefix>/" */
	pthread_mutex_t held_mu;
	struct held held[HELD_MAX];
	size_t nheld;
};

static struct store_etcd *se(struct at_store *s)
{
	return (struct store_etcd *)s;
}

/* "<prefix>/" + rest into out. */
static int full_key(const struct store_etcd *e, const char *rest, char *out, size_t size)
{
	int n = snprintf(out, size, "%s%s", e->prefix, rest);
	return n < 0 || (size_t)n >= size ? AT_E_RANGE : 0;
}

static cJSON *obj_with_key(const char *k)
{
	cJSON *j = cJSON_CreateObject();
	if (j && at_etcd_add_b64(j, "key", k, strlen(k)) != 0) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static const cJSON *first_kv(const cJSON *resp)
{
	const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(resp, "kvs");
	return cJSON_IsArray(kvs) ? cJSON_GetArrayItem(kvs, 0) : NULL;
}

/* Reads key k's kv: *resp holds it (cJSON_Delete), *kv points into it, NULL when absent. */
static int range_one(struct store_etcd *e, const char *k, cJSON **resp, const cJSON **kv)
{
	char full[AT_STORE_KEY_MAX + AT_ETCD_PREFIX_MAX + 8];
	cJSON *req;
	int rc = full_key(e, k, full, sizeof full);

	if (rc != 0)
		return rc;
	req = obj_with_key(full);
	if (req == NULL)
		return AT_E_NOMEM;
	rc = at_etcd_call(e->c, "/v3/kv/range", req, OP_DEADLINE_MS, resp);
	cJSON_Delete(req);
	if (rc == 0)
		*kv = first_kv(*resp);
	return rc;
}

static int etcd_load(struct at_store *s, const char *key, char **val, size_t *len)
{
	struct store_etcd *e = se(s);
	cJSON *resp = NULL;
	const cJSON *kv = NULL;
	char *raw = NULL;
	size_t rn = 0;
	int rc = at_store_key_check(key, 0);

	if (rc != 0)
		return rc;
	if (val == NULL || len == NULL)
		return AT_E_INVAL;
	rc = range_one(e, key, &resp, &kv);
	if (rc != 0)
		return rc;
	if (kv == NULL) {
		cJSON_Delete(resp);
		return AT_E_NOTFOUND;
	}
	rc = at_etcd_get_b64(kv, "value", &raw, &rn);
	cJSON_Delete(resp);
	if (rc != 0)
		return rc;
	if (e->seal == NULL && at_seal_is_sealed(raw, rn)) {
		at_log_error("store: %s in etcd is sealed and AUTOTLS_STORAGE_KEY is not set here", key);
		at_secret_free(raw, rn);
		return AT_E_KEY_MISMATCH;
	}
	if (e->seal == NULL) {
		*val = raw;
		*len = rn;
		return 0;
	}
	if (!at_seal_is_sealed(raw, rn)) {
		/* A sealed fleet never writes a value in the clear: one is a host without the key, or a forgery. */
		at_log_error("store: %s in etcd is not sealed; refusing it (written by a host without "
			     "AUTOTLS_STORAGE_KEY?)", key);
		at_secret_free(raw, rn);
		return AT_E_CRYPTO;
	}
	rc = at_unseal(e->seal, key, raw, rn, val, len);
	at_secret_free(raw, rn);
	if (rc == AT_E_KEY_MISMATCH)
		at_log_error("store: %s in etcd was sealed with another AUTOTLS_STORAGE_KEY than this host's", key);
	else if (rc == AT_E_CRYPTO)
		at_log_error("store: %s in etcd does not authenticate under AUTOTLS_STORAGE_KEY (changed, cut or "
			     "moved); refusing it", key);
	return rc;
}

/* The fence: one compare per held lock (its key still has the create_revision we made). NULL array when none
 * are held. */
static int fence(struct store_etcd *e, cJSON **compare)
{
	char full[AT_STORE_KEY_MAX + AT_ETCD_PREFIX_MAX + 8], rev[32];
	int rc = 0;

	*compare = NULL;
	pthread_mutex_lock(&e->held_mu);
	if (e->nheld == 0)
		goto out;
	*compare = cJSON_CreateArray();
	if (*compare == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < e->nheld && rc == 0; i++) {
		cJSON *c = cJSON_CreateObject();
		snprintf(full, sizeof full, "%s.locks/%s", e->prefix, e->held[i].name);
		snprintf(rev, sizeof rev, "%lld", e->held[i].create_rev);
		if (c == NULL || !cJSON_AddItemToArray(*compare, c) || at_etcd_add_b64(c, "key", full, strlen(full)) ||
		    !cJSON_AddStringToObject(c, "target", "CREATE") || !cJSON_AddStringToObject(c, "result", "EQUAL") ||
		    !cJSON_AddStringToObject(c, "create_revision", rev))
			rc = AT_E_NOMEM;
	}
out:
	pthread_mutex_unlock(&e->held_mu);
	return rc;
}

/* Sends one write: op (stolen) is the body of a put or a deleterange. Fenced by a transaction when locks are held
 * (see the top of the file); plain otherwise. */
static int write_op(struct store_etcd *e, const char *kind, cJSON *op)
{
	cJSON *compare = NULL, *txn = NULL, *resp = NULL;
	int rc = fence(e, &compare);

	if (rc != 0)
		goto out;
	if (compare == NULL) {
		rc = at_etcd_call(e->c, strcmp(kind, "request_put") == 0 ? "/v3/kv/put" : "/v3/kv/deleterange", op,
				  OP_DEADLINE_MS, &resp);
		goto out;
	}
	txn = cJSON_CreateObject();
	cJSON *success = cJSON_CreateArray(), *wrap = cJSON_CreateObject();
	if (txn == NULL || success == NULL || wrap == NULL || !cJSON_AddItemToObject(txn, "compare", compare)) {
		cJSON_Delete(success);
		cJSON_Delete(wrap);
		rc = AT_E_NOMEM;
		goto out;
	}
	compare = NULL;
	cJSON_AddItemToObject(txn, "success", success);
	cJSON_AddItemToArray(success, wrap);
	cJSON_AddItemToObject(wrap, kind, op);
	op = NULL;
	rc = at_etcd_call(e->c, "/v3/kv/txn", txn, OP_DEADLINE_MS, &resp);
	if (rc == 0 && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "succeeded"))) {
		at_log_error("store: a write made under a lock was refused: the lock's lease ended and it is not ours "
			     "any more");
		rc = AT_E_LOCKED;
	}
out:
	cJSON_Delete(compare);
	cJSON_Delete(op);
	cJSON_Delete(txn);
	cJSON_Delete(resp);
	return rc;
}

static int etcd_store(struct at_store *s, const char *key, const void *val, size_t len)
{
	struct store_etcd *e = se(s);
	char full[AT_STORE_KEY_MAX + AT_ETCD_PREFIX_MAX + 8];
	unsigned char *sealed = NULL;
	size_t sn = 0;
	cJSON *op = NULL;
	int rc = at_store_key_check(key, 0);

	if (rc != 0)
		return rc;
	if (val == NULL && len > 0)
		return AT_E_INVAL;
	if (len > VALUE_MAX)
		return AT_E_TOOBIG;
	rc = full_key(e, key, full, sizeof full);
	if (rc != 0)
		return rc;
	if (e->seal) {
		rc = at_seal(e->seal, key, val, len, &sealed, &sn);
		if (rc != 0)
			return rc;
		val = sealed;
		len = sn;
	}
	op = obj_with_key(full);
	if (op == NULL || at_etcd_add_b64(op, "value", val ? val : "", len) != 0) {
		cJSON_Delete(op);
		rc = AT_E_NOMEM;
	} else {
		rc = write_op(e, "request_put", op);
	}
	free(sealed); /* ciphertext: nothing to cleanse */
	return rc;
}

static int etcd_del(struct at_store *s, const char *key)
{
	struct store_etcd *e = se(s);
	char full[AT_STORE_KEY_MAX + AT_ETCD_PREFIX_MAX + 8], end[sizeof full];
	cJSON *op;
	size_t n;
	int rc;

	if (key == NULL || key[0] == '\0')
		return AT_E_BADNAME;
	n = strlen(key);
	rc = at_store_key_check(key, key[n - 1] == '/');
	if (rc == 0)
		rc = full_key(e, key, full, sizeof full);
	if (rc != 0)
		return rc;
	op = obj_with_key(full);
	if (op == NULL)
		return AT_E_NOMEM;
	if (key[n - 1] == '/') {
		at_etcd_range_end(full, end, sizeof end);
		if (at_etcd_add_b64(op, "range_end", end, strlen(end)) != 0) {
			cJSON_Delete(op);
			return AT_E_NOMEM;
		}
	}
	return write_op(e, "request_delete_range", op);
}

static int etcd_list(struct at_store *s, const char *prefix, char ***keys, size_t *n)
{
	struct store_etcd *e = se(s);
	char full[AT_STORE_KEY_MAX + AT_ETCD_PREFIX_MAX + 8], end[sizeof full];
	cJSON *req = NULL, *resp = NULL;
	char **out = NULL;
	size_t cnt = 0, plen, flen;
	int rc = at_store_key_check(prefix, 1);

	if (rc != 0)
		return rc;
	if (keys == NULL || n == NULL)
		return AT_E_INVAL;
	rc = full_key(e, prefix, full, sizeof full);
	if (rc != 0)
		return rc;
	plen = strlen(prefix);
	flen = strlen(full);
	at_etcd_range_end(full, end, sizeof end);
	req = obj_with_key(full);
	if (req == NULL || at_etcd_add_b64(req, "range_end", end, strlen(end)) != 0 ||
	    !cJSON_AddTrueToObject(req, "keys_only")) {
		rc = AT_E_NOMEM;
		goto out;
	}
	rc = at_etcd_call(e->c, "/v3/kv/range", req, OP_DEADLINE_MS, &resp);
	if (rc != 0)
		goto out;
	const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(resp, "kvs");
	size_t total = cJSON_IsArray(kvs) ? (size_t)cJSON_GetArraySize(kvs) : 0;
	if (total > LIST_MAX) {
		rc = AT_E_TOOBIG;
		goto out;
	}
	out = calloc(total ? total : 1, sizeof *out);
	if (out == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	const cJSON *kv;
	cJSON_ArrayForEach(kv, kvs) {
		char *k = NULL;
		size_t kn = 0;
		rc = at_etcd_get_b64(kv, "key", &k, &kn);
		if (rc != 0)
			goto out;
		const char *rest = k + flen;
		const char *slash = kn > flen ? memchr(rest, '/', kn - flen) : NULL;
		size_t cn = slash ? (size_t)(slash - rest) : kn - flen;
		/* Folders are shown once, as the prefix they are; what no key could name (".locks") never. */
		if (kn <= flen || strncmp(k, full, flen) != 0 || !at_store_component_ok(rest, cn) ||
		    (cnt > 0 && strncmp(out[cnt - 1] + plen, rest, cn + (slash != NULL)) == 0 &&
		     out[cnt - 1][plen + cn + (slash != NULL)] == '\0')) {
			free(k);
			continue;
		}
		char *item = at_store_list_entry(prefix, plen, rest, cn, slash != NULL);
		free(k);
		if (item == NULL) {
			rc = AT_E_NOMEM;
			goto out;
		}
		out[cnt++] = item;
	}
	/* etcd's byte order puts "a/x" after "a-b" and before "a0", so a folder's keys are adjacent: the check above
	 * already left out repeats; sorting again is for strcmp order of "a/" against its neighbours. */
	at_store_list_hand_over(&out, &cnt, keys, n);
	rc = 0;
out:
	at_store_list_free(out, cnt);
	cJSON_Delete(req);
	cJSON_Delete(resp);
	return rc;
}

static int etcd_stat(struct at_store *s, const char *key, struct at_store_stat *st)
{
	cJSON *resp = NULL;
	const cJSON *kv = NULL;
	char *raw = NULL;
	size_t rn = 0;
	long long rev = 0;
	int rc = at_store_key_check(key, 0);

	if (rc != 0)
		return rc;
	if (st == NULL)
		return AT_E_INVAL;
	rc = range_one(se(s), key, &resp, &kv);
	if (rc != 0)
		return rc;
	if (kv == NULL)
		rc = AT_E_NOTFOUND;
	else if ((rc = at_etcd_get_i64(kv, "mod_revision", &rev)) == 0 &&
		 (rc = at_etcd_get_b64(kv, "value", &raw, &rn)) == 0) {
		st->modified = (time_t)rev;
		st->size = rn > AT_SEAL_OVERHEAD && at_seal_is_sealed(raw, rn) ? rn - AT_SEAL_OVERHEAD : rn;
		at_secret_free(raw, rn);
	}
	cJSON_Delete(resp);
	return rc;
}

static int lease_grant(struct store_etcd *e, int ttl, char *id, size_t size)
{
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	int rc;

	if (req == NULL || !cJSON_AddNumberToObject(req, "TTL", ttl)) {
		cJSON_Delete(req);
		return AT_E_NOMEM;
	}
	rc = at_etcd_call(e->c, "/v3/lease/grant", req, OP_DEADLINE_MS, &resp);
	cJSON_Delete(req);
	if (rc == 0) {
		const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resp, "ID"));
		if (s == NULL || *s == '\0' || strlen(s) >= size || strspn(s, "-0123456789") != strlen(s))
			rc = AT_E_PARSE;
		else
			snprintf(id, size, "%s", s);
	}
	cJSON_Delete(resp);
	return rc;
}

/* Revokes a lease (deleting the keys attached to it) within deadline_ms. 0, AT_E_NOTFOUND (it had ended) or an
 * error. */
static int lease_revoke_within(struct store_etcd *e, const char *id, long deadline_ms)
{
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	int rc;

	if (req == NULL || !cJSON_AddStringToObject(req, "ID", id)) {
		cJSON_Delete(req);
		return AT_E_NOMEM;
	}
	rc = at_etcd_call(e->c, "/v3/lease/revoke", req, deadline_ms, &resp);
	cJSON_Delete(req);
	cJSON_Delete(resp);
	return rc;
}

static int lease_revoke(struct store_etcd *e, const char *id)
{
	return lease_revoke_within(e, id, OP_DEADLINE_MS);
}

/* The lock transaction: put the lock key with our lease if it does not exist, else read it. *won 1 with *rev
 * the key's create_revision when the key is ours (created now, or by an earlier try of this same request). */
static int lock_txn(struct store_etcd *e, const char *full, const char *lease, int *won, long long *rev)
{
	char holder[400], host[256] = "";
	cJSON *txn = cJSON_CreateObject(), *resp = NULL;
	cJSON *cmp = cJSON_CreateObject(), *cmps = cJSON_CreateArray(), *ok = cJSON_CreateArray();
	cJSON *ko = cJSON_CreateArray(), *put = obj_with_key(full), *get = obj_with_key(full);
	cJSON *w1 = cJSON_CreateObject(), *w2 = cJSON_CreateObject();
	int rc = AT_E_NOMEM;

	*won = 0;
	gethostname(host, sizeof host - 1);
	snprintf(holder, sizeof holder, "{\"host\":\"%.200s\",\"pid\":%d,\"lease\":\"%s\"}", host, (int)getpid(),
		 lease);
	if (!txn || !cmp || !cmps || !ok || !ko || !put || !get || !w1 || !w2 ||
	    at_etcd_add_b64(cmp, "key", full, strlen(full)) != 0 || !cJSON_AddStringToObject(cmp, "target", "CREATE") ||
	    !cJSON_AddStringToObject(cmp, "result", "EQUAL") || !cJSON_AddStringToObject(cmp, "create_revision", "0") ||
	    at_etcd_add_b64(put, "value", holder, strlen(holder)) != 0 || !cJSON_AddStringToObject(put, "lease", lease)) {
		cJSON_Delete(cmp);
		cJSON_Delete(cmps);
		cJSON_Delete(ok);
		cJSON_Delete(ko);
		cJSON_Delete(put);
		cJSON_Delete(get);
		cJSON_Delete(w1);
		cJSON_Delete(w2);
		goto out;
	}
	cJSON_AddItemToArray(cmps, cmp);
	cJSON_AddItemToObject(w1, "request_put", put);
	cJSON_AddItemToArray(ok, w1);
	cJSON_AddItemToObject(w2, "request_range", get);
	cJSON_AddItemToArray(ko, w2);
	cJSON_AddItemToObject(txn, "compare", cmps);
	cJSON_AddItemToObject(txn, "success", ok);
	cJSON_AddItemToObject(txn, "failure", ko);
	rc = at_etcd_call(e->c, "/v3/kv/txn", txn, OP_DEADLINE_MS, &resp);
	if (rc != 0)
		goto out;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "succeeded"))) {
		/* A write transaction's header revision is the revision it created. */
		rc = at_etcd_get_i64(cJSON_GetObjectItemCaseSensitive(resp, "header"), "revision", rev);
		*won = rc == 0 && *rev > 0;
		goto out;
	}
	const cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(resp, "responses"), 0);
	const cJSON *kv = first_kv(cJSON_GetObjectItemCaseSensitive(r0, "response_range"));
	long long theirs = 0, ours = strtoll(lease, NULL, 10);
	rc = 0;
	if (kv && at_etcd_get_i64(kv, "lease", &theirs) == 0 && theirs == ours &&
	    at_etcd_get_i64(kv, "create_revision", rev) == 0)
		*won = 1; /* our first try went through and its answer was lost */
out:
	cJSON_Delete(txn);
	cJSON_Delete(resp);
	return rc;
}

static int etcd_lock(struct at_store *s, const char *name, int lease_s, int wait_ms)
{
	struct store_etcd *e = se(s);
	char full[AT_STORE_KEY_MAX + AT_ETCD_PREFIX_MAX + 8], lease[24];
	long end = at_clock_ms() + (wait_ms > 0 ? wait_ms : 0);
	long long pause = 20, rev = 0;
	int won = 0, rc;

	if (name == NULL || !at_store_component_ok(name, strlen(name)))
		return AT_E_BADNAME;
	if (lease_s < 1 || lease_s > LEASE_MAX)
		return AT_E_RANGE;
	pthread_mutex_lock(&e->held_mu);
	rc = e->nheld == HELD_MAX ? AT_E_RANGE : 0;
	pthread_mutex_unlock(&e->held_mu);
	if (rc != 0)
		return rc;
	snprintf(full, sizeof full, "%s.locks/%s", e->prefix, name);
	long granted_ms = at_clock_ms();
	rc = lease_grant(e, lease_s, lease, sizeof lease);
	if (rc != 0)
		return rc;
	for (;;) {
		rc = lock_txn(e, full, lease, &won, &rev);
		if (rc != 0 || won)
			break;
		long now = at_clock_ms();
		if (now >= end) {
			rc = AT_E_LOCKED;
			break;
		}
		at_lockset_pause_ms(pause < end - now ? pause : end - now);
		pause = pause < 200 ? pause * 2 : 250;
	}
	if (!won) {
		if (lease_revoke(e, lease) != 0)
			at_log_debug("store: lease %s not revoked; it ends by itself in %d s", lease, lease_s);
		return rc;
	}
	pthread_mutex_lock(&e->held_mu);
	struct held *h = &e->held[e->nheld++];
	snprintf(h->name, sizeof h->name, "%s", name);
	snprintf(h->lease, sizeof h->lease, "%s", lease);
	h->create_rev = rev;
	h->kept_ms = granted_ms;
	pthread_mutex_unlock(&e->held_mu);
	return 0;
}

/* The held lock name's kept_ms (0: not held), or, with set > 0, sets it. */
static long held_kept(struct store_etcd *e, const char *name, long set)
{
	long kept = 0;

	pthread_mutex_lock(&e->held_mu);
	for (size_t i = 0; i < e->nheld; i++) {
		if (strcmp(e->held[i].name, name) != 0)
			continue;
		if (set > 0)
			e->held[i].kept_ms = set;
		kept = e->held[i].kept_ms;
		break;
	}
	pthread_mutex_unlock(&e->held_mu);
	return kept;
}

/* Takes name out of the held table; its lease into lease. 0 or AT_E_STATE (not held). */
static int held_take(struct store_etcd *e, const char *name, char *lease, size_t size, int remove)
{
	int rc = AT_E_STATE;

	pthread_mutex_lock(&e->held_mu);
	for (size_t i = 0; i < e->nheld; i++) {
		if (strcmp(e->held[i].name, name) != 0)
			continue;
		snprintf(lease, size, "%s", e->held[i].lease);
		if (remove)
			e->held[i] = e->held[--e->nheld];
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&e->held_mu);
	return rc;
}

static int etcd_lock_refresh(struct at_store *s, const char *name, int lease_s)
{
	struct store_etcd *e = se(s);
	char lease[24];
	cJSON *req = NULL, *resp = NULL;
	long long ttl = 0;
	int rc;

	if (name == NULL || lease_s < 1 || lease_s > LEASE_MAX)
		return AT_E_RANGE;
	rc = held_take(e, name, lease, sizeof lease, 0);
	if (rc != 0)
		return rc;
	req = cJSON_CreateObject();
	if (req == NULL || !cJSON_AddStringToObject(req, "ID", lease)) {
		cJSON_Delete(req);
		return AT_E_NOMEM;
	}
	/* Tried no longer than until a second before the lease surely ends (a holder cut off from etcd must learn
	 * that it cannot keep the lock before another may take it, not 15 s later; etcd ends leases on its own
	 * half-second checks), at least one round of the members. */
	long sent_ms = at_clock_ms(), deadline = held_kept(e, name, 0) + lease_s * 1000L - 1000 - sent_ms;
	deadline = deadline > OP_DEADLINE_MS ? OP_DEADLINE_MS : deadline < 1 ? 1 : deadline;
	/* The gateway's keepalive is a stream: one request, one {"result": ...} answer. */
	rc = at_etcd_call(e->c, "/v3/lease/keepalive", req, deadline, &resp);
	cJSON_Delete(req);
	if (rc == 0) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(resp, "result");
		rc = at_etcd_get_i64(r ? r : resp, "TTL", &ttl);
		if (rc == 0 && ttl <= 0)
			rc = AT_E_LOCKED; /* the lease ended: the key went with it, and someone may hold it now */
		else if (rc == 0)
			(void)held_kept(e, name, sent_ms);
	} else if (rc == AT_E_NOTFOUND) {
		rc = AT_E_LOCKED;
	}
	cJSON_Delete(resp);
	if (rc == AT_E_LOCKED)
		(void)held_take(e, name, lease, sizeof lease, 1);
	return rc;
}

static int etcd_unlock(struct at_store *s, const char *name)
{
	struct store_etcd *e = se(s);
	char lease[24];
	int rc;

	if (name == NULL)
		return AT_E_STATE;
	rc = held_take(e, name, lease, sizeof lease, 1);
	if (rc != 0)
		return rc;
	rc = lease_revoke(e, lease);
	return rc == AT_E_NOTFOUND ? AT_E_LOCKED : rc;
}

static void etcd_close(struct at_store *s)
{
	struct store_etcd *e = se(s);

	while (e->nheld > 0) {
		char lease[24];
		(void)held_take(e, e->held[0].name, lease, sizeof lease, 1);
		(void)lease_revoke(e, lease);
	}
	at_etcd_close(e->c);
	at_seal_key_free(e->seal);
	pthread_mutex_destroy(&e->held_mu);
	free(e);
}

static const struct at_store_ops etcd_ops = {
	.load = etcd_load,
	.store = etcd_store,
	.del = etcd_del,
	.list = etcd_list,
	.stat = etcd_stat,
	.lock = etcd_lock,
	.lock_refresh = etcd_lock_refresh,
	.unlock = etcd_unlock,
	.close = etcd_close,
};

unsigned long at_store_etcd_requests(struct at_store *s)
{
	return s && s->ops == &etcd_ops ? at_etcd_requests(se(s)->c) : 0;
}

int at_store_open_etcd(struct at_store **out, const char *spec)
{
	static int warned_clear;
	struct at_etcd_url u;
	struct at_etcd_tls tls;
	const char *keyfile = secure_getenv("AUTOTLS_STORAGE_KEY");
	struct store_etcd *e = NULL;
	cJSON *req = NULL, *resp = NULL;
	int rc;

	if (out == NULL)
		return AT_E_INVAL;
	at_etcd_tls_from_env(&tls);
	rc = at_etcd_url_parse(&u, spec);
	if (rc != 0)
		return rc;
	e = calloc(1, sizeof *e);
	if (e == NULL)
		return AT_E_NOMEM;
	pthread_mutex_init(&e->held_mu, NULL);
	snprintf(e->prefix, sizeof e->prefix, "%s/", u.prefix);
	if (keyfile && *keyfile) {
		rc = at_seal_key_load(&e->seal, keyfile);
		if (rc != 0) {
			at_log_error("AUTOTLS_STORAGE_KEY %s: %s; it must hold 64 hex digits (openssl rand -hex 32 > "
				     "FILE) or 32 bytes, and only the fleet's hosts may read it", keyfile, at_strerror(rc));
			goto fail;
		}
	} else if (!__atomic_exchange_n(&warned_clear, 1, __ATOMIC_RELAXED)) {
		at_log_warn("AUTOTLS_STORAGE_KEY is not set: private keys are stored in the clear in etcd (%s); "
			    "anyone who can read the cluster can read them", spec);
	}
	rc = at_etcd_open(&e->c, &u, &tls);
	if (rc != 0)
		goto fail;
	/* One request now, so that a wrong address is an error at start, not at the first renewal. */
	req = obj_with_key(e->prefix);
	if (req == NULL || !cJSON_AddTrueToObject(req, "count_only")) {
		rc = AT_E_NOMEM;
		goto fail;
	}
	rc = at_etcd_call(e->c, "/v3/kv/range", req, OP_DEADLINE_MS, &resp);
	if (rc != 0) {
		at_log_error("AUTOTLS_STORAGE %s: no etcd member answered (%s)", spec, at_strerror(rc));
		goto fail;
	}
	cJSON_Delete(req);
	cJSON_Delete(resp);
	e->base.ops = &etcd_ops;
	*out = &e->base;
	return 0;
fail:
	cJSON_Delete(req);
	cJSON_Delete(resp);
	at_etcd_close(e->c);
	at_seal_key_free(e->seal);
	pthread_mutex_destroy(&e->held_mu);
	free(e);
	return rc;
}

int at_store_etcd_give_back(struct at_store *s, long deadline_ms, unsigned *given)
{
	unsigned n = 0;
	int rc = 0;

	if (s == NULL || s->ops != &etcd_ops)
		goto out;
	struct store_etcd *e = se(s);
	long end = at_clock_ms() + deadline_ms;
	for (;;) {
		char lease[24];
		/* One at a time out of the table under held_mu, never held across the request. */
		pthread_mutex_lock(&e->held_mu);
		int any = e->nheld > 0;
		if (any) {
			snprintf(lease, sizeof lease, "%s", e->held[e->nheld - 1].lease);
			e->nheld--;
		}
		pthread_mutex_unlock(&e->held_mu);
		if (!any)
			break;
		/* One round of the members, no pause between rounds: a pause goes through the wait hooks, which
		 * release and retake the manager's quiesce lock, and the thread giving the locks back (the tree
		 * watch's, or exit()'s) does not own it. Past the deadline the rest run out by themselves. */
		if (at_clock_ms() >= end) {
			rc = rc ? rc : AT_E_TIMEOUT;
			continue;
		}
		int r = lease_revoke_within(e, lease, 1);
		if (r == 0)
			n++;
		else if (r != AT_E_NOTFOUND && rc == 0)
			rc = r; /* that lease ends by itself; the others are still given back */
	}
out:
	if (given)
		*given = n;
	return rc;
}
