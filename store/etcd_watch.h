/*
 * A watch on etcd keys below one store prefix (store/etcd_watch.c): a thread of its own holds the JSON gateway's
 * /v3/watch stream open (failing over between the members) and counts what it sees. It tells that something
 * changed, never what: the caller reads the store again (through the store, which opens the sealed values).
 */
#ifndef AUTOTLS_STORE_ETCD_WATCH_H
#define AUTOTLS_STORE_ETCD_WATCH_H

#include "store/etcd_client.h"
#include "util/err.h"

#include <stdbool.h>

struct at_etcd_watch;

/* Starts watching every key below <PREFIX>/<below> of the etcd store u names (at_etcd_url_parse; below a store
 * prefix ending in '/', e.g. "certificates/"), with tls's files (copied; NULL: none), as at_etcd_open takes them.
 * The thread is detached from the caller's locks: it takes none but its own. *out new. 0, AT_E_INVAL,
 * AT_E_NOMEM, AT_E_NET (libcurl would not start), AT_E_IO (no thread). */
int at_etcd_watch_start(struct at_etcd_watch **out, const struct at_etcd_url *u, const struct at_etcd_tls *tls,
			const char *below) AT_MUST_CHECK;

/* The same on one lock's key, <PREFIX>/.locks/<name> (the store's lock name, store_etcd.c), for its deletes only
 * (the holder's unlock, or etcd ending its lease): the seq then moves when the lock may be free (and, as above,
 * at every new stream: a delete while none was open is not replayed). 0 or as at_etcd_watch_start. */
int at_etcd_watch_lock_start(struct at_etcd_watch **out, const struct at_etcd_url *u,
			     const struct at_etcd_tls *tls, const char *name) AT_MUST_CHECK;

/* How many changes the watch has seen, plus one for every time the stream was (re)established (events while it
 * was down are not replayed: read the store again). Never goes down. */
unsigned long at_etcd_watch_seq(const struct at_etcd_watch *w);

/* true while the stream is up (the gateway said "created" and the connection has not ended since). */
bool at_etcd_watch_up(const struct at_etcd_watch *w);

/* Stops the thread (within about a second: libcurl's progress callback) and frees w. NULL is fine. */
void at_etcd_watch_stop(struct at_etcd_watch *w);

#endif
