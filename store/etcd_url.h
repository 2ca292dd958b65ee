/*
 * The etcd store's address, AUTOTLS_STORAGE=etcd://HOST:PORT[,HOST:PORT...]/PREFIX (etcds:// for TLS to etcd):
 * the cluster's members, tried in turn, and the prefix below which this fleet's keys live.
 */
#ifndef AUTOTLS_STORE_ETCD_URL_H
#define AUTOTLS_STORE_ETCD_URL_H

#include "util/err.h"

#include <stddef.h>

#define AT_ETCD_MEMBERS_MAX 16
#define AT_ETCD_PREFIX_MAX 200

struct at_etcd_url {
	char members[AT_ETCD_MEMBERS_MAX][300]; /* "http://127.0.0.1:2379" (https:// for etcds://) */
	size_t n;
	char prefix[AT_ETCD_PREFIX_MAX + 1];     /* store-key syntax, no leading or trailing '/' */
	int tls;
};

/* 1 when spec names an etcd store (etcd:// or etcds://), else 0. spec may be NULL. */
int at_etcd_url_is(const char *spec);

/* Parses spec. A member is HOST:PORT (a name, an IPv4 address or [IPv6]; the port 1..65535, 2379 when left out);
 * the prefix is one or more store components ("fleet", "prod/web"). Returns 0 or AT_E_INVAL (and logs why). */
int at_etcd_url_parse(struct at_etcd_url *u, const char *spec) AT_MUST_CHECK;

#endif
