/*
 * One server's life under the shim against the scripted CA (hostile_ca.h): openssl s_server with the preload,
 * the same store, log and settings each time it is started (as systemd's Restart=always would start it again).
 * AUTOTLS_TEST_BACKOFF_SCALE=60 scales the manager's retry and recheck delays.
 */
#ifndef AUTOTLS_TESTS_HARNESS_HOSTILE_LIFE_H
#define AUTOTLS_TESTS_HARNESS_HOSTILE_LIFE_H

#include "tests/harness/servers.h"
#include "tests/harness/tlsverify.h"

#include <limits.h>

/* The shim's settings for a server against the scripted CA, each in a buffer of its own (see hostile_shim_settings). */
struct hostile_shim_settings {
	char e_pre[2 * PATH_MAX + 16], e_dom[128], e_ca[600], e_roots[PATH_MAX + 32], e_store[240], e_log[240];
	char e_http[48];
	int sanitized;
};

/* Fills s and puts into envp, from *k on (*k advanced by 10; not terminated): the preload, AUTOTLS_DOMAINS=name,
 * AUTOTLS_CA=ca, AUTOTLS_CA_ROOTS=roots, AUTOTLS_STORAGE=store, AUTOTLS_LOG=log, a free AUTOTLS_HTTP_PORT,
 * tls-alpn-01, debug logs and AUTOTLS_TEST_BACKOFF_SCALE=60. 0 or -1. */
int hostile_shim_settings(struct hostile_shim_settings *s, char **envp, int *k, const char *name, const char *ca,
			  const char *roots, const char *store, const char *log);
/* Ends envp at k: the sanitizers' options when the preload is sanitized (two entries), then NULL. The NULL's
 * index. */
int hostile_shim_settings_end(const struct hostile_shim_settings *s, char **envp, int k);

struct hostile_life {
	char dir[160], store[200], log[200];
	struct hostile_shim_settings set;
	char *envp[20];
	struct server srv;
	int port, up;
};

/* In base/tag: name managed, AUTOTLS_CA=ca (one URL or a list), AUTOTLS_CA_ROOTS=roots, and up to two more
 * "NAME=value" settings (NULL: none; borrowed). 0 or -1. */
int hostile_life_prepare(struct hostile_life *l, const char *base, const char *tag, const char *name, const char *ca,
			 const char *roots, const char *extra1, const char *extra2);
/* Starts the server on a free port. 0 or -1. */
int hostile_life_start(struct hostile_life *l);
void hostile_life_stop(struct hostile_life *l);
/* Waits until the server serves a certificate for name that verifies against root and whose serial is not
 * not_serial (NULL: any). ms it took, or -1; r holds the last handshake. */
long hostile_life_wait(struct hostile_life *l, const char *name, const char *root, const char *not_serial,
		       long limit_ms, struct tls_client_result *r);

#endif
