/*
 * HTTP-01, the parts both modes share (see http01.h): the pending tokens, the checks of what the CA sent, the
 * choice of mode, and the reset in a forked child.
 *
 * Owns h01_mu and the token table under it: present() and cleanup() of either mode write the table (on the
 * caller's solver thread), the responder thread reads it (at_http01_table_lookup). h01_mu is a leaf lock: held
 * for a copy, never across a call out. Fork: the caller is not inside present()/cleanup() then (the shim's
 * fork handlers take its quiesce lock), but the responder may hold h01_mu; the child re-initialises the mutex,
 * forgets the table and has each mode drop what is the parent's (http01_fork_child).
 */
#include "challenge/http01.h"
#include "challenge/http01_request.h"
#include "challenge/http01_shared.h"
#include "acme/solver.h"
#include "util/err.h"
#include "util/log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define H01_MAX_PENDING 64

struct h01_pending {
	char token[AT_HTTP01_TOKEN_MAX + 1];
	char keyauth[AT_HTTP01_KEYAUTH_MAX + 1];
};

/* The pending tokens: written by present()/cleanup(), read by the responder. */
static pthread_mutex_t h01_mu = PTHREAD_MUTEX_INITIALIZER;
static struct h01_pending h01_table[H01_MAX_PENDING];
static size_t h01_count;

static int h01_last_reason; /* the last "not offered" reason logged */

int at_http01_challenge_ok(const struct at_challenge *ch)
{
	if (ch == NULL || ch->type != AT_CHALLENGE_HTTP_01 || ch->token == NULL || ch->key_authorization == NULL)
		return AT_E_INVAL;
	size_t tn = strlen(ch->token), kn = strlen(ch->key_authorization);
	if (!at_http01_token_ok(ch->token, tn)) {
		at_log_warn("http-01: the CA sent a token that is not base64url; refused");
		return AT_E_INVAL;
	}
	if (kn > AT_HTTP01_KEYAUTH_MAX || kn <= tn + 1 || strncmp(ch->key_authorization, ch->token, tn) != 0 ||
	    ch->key_authorization[tn] != '.' || !at_http01_token_ok(ch->key_authorization + tn + 1, kn - tn - 1)) {
		at_log_warn("http-01: the key authorization for token %s is malformed; refused", ch->token);
		return AT_E_INVAL;
	}
	return 0;
}

int at_http01_table_add(const char *token, const char *keyauth)
{
	int rc = 0;
	pthread_mutex_lock(&h01_mu);
	size_t i;
	for (i = 0; i < h01_count; i++)
		if (strcmp(h01_table[i].token, token) == 0)
			break;
	if (i == h01_count) {
		if (h01_count == H01_MAX_PENDING)
			rc = AT_E_RANGE;
		else
			h01_count++;
	}
	if (rc == 0) {
		snprintf(h01_table[i].token, sizeof(h01_table[i].token), "%s", token);
		snprintf(h01_table[i].keyauth, sizeof(h01_table[i].keyauth), "%s", keyauth);
	}
	pthread_mutex_unlock(&h01_mu);
	return rc;
}

void at_http01_table_remove(const char *token, size_t *left)
{
	pthread_mutex_lock(&h01_mu);
	for (size_t i = 0; i < h01_count; i++) {
		if (strcmp(h01_table[i].token, token) != 0)
			continue;
		h01_table[i] = h01_table[h01_count - 1];
		memset(&h01_table[h01_count - 1], 0, sizeof(h01_table[0]));
		h01_count--;
		break;
	}
	*left = h01_count;
	pthread_mutex_unlock(&h01_mu);
}

int at_http01_table_lookup(char *out, const char *token, size_t n)
{
	int rc = AT_E_NOTFOUND;
	pthread_mutex_lock(&h01_mu);
	for (size_t i = 0; i < h01_count && rc != 0; i++) {
		if (strlen(h01_table[i].token) == n && memcmp(h01_table[i].token, token, n) == 0) {
			memcpy(out, h01_table[i].keyauth, sizeof(h01_table[i].keyauth));
			rc = 0;
		}
	}
	pthread_mutex_unlock(&h01_mu);
	return rc;
}

void at_http01_get_state(struct at_http01_state *out)
{
	pthread_mutex_lock(&h01_mu);
	out->pending = h01_count;
	pthread_mutex_unlock(&h01_mu);
	out->listening = at_http01_responder_running();
}

static void h01_fork_child(void)
{
	pthread_mutex_init(&h01_mu, NULL);
	memset(h01_table, 0, sizeof(h01_table));
	h01_count = 0;
	at_http01_responder_fork_child();
	at_http01_webroot_fork_child();
}

static void h01_register_fork(void)
{
	if (pthread_atfork(NULL, NULL, h01_fork_child) != 0)
		at_log_warn("http-01: cannot register the fork handler");
}

static int not_offered(int rc, const char *why, const char *detail)
{
	if (rc != h01_last_reason)
		at_log_info("http-01 is not offered: %s%s", why, detail ? detail : "");
	h01_last_reason = rc;
	return rc;
}

int at_http01_solver(struct at_solver *out, const struct at_http01_config *cfg)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (cfg == NULL)
		return not_offered(AT_E_STATE, "no configuration", NULL);
	if (cfg->webroot) {
		struct stat st;
		if (stat(cfg->webroot, &st) != 0 || !S_ISDIR(st.st_mode))
			return not_offered(AT_E_NOTFOUND, "AUTOTLS_WEBROOT is not a folder: ", cfg->webroot);
		if (faccessat(AT_FDCWD, cfg->webroot, W_OK | X_OK, AT_EACCESS) != 0)
			return not_offered(AT_E_PERM, "this user may not write into AUTOTLS_WEBROOT ", cfg->webroot);
	} else if (at_http01_responder_probe(cfg->port) == AT_E_PERM) {
		/* In use now is no reason (that may change by the next order); not allowed is. */
		return not_offered(AT_E_PERM, "this user may not bind AUTOTLS_HTTP_PORT (below 1024 that takes root "
				   "or CAP_NET_BIND_SERVICE)", NULL);
	}
	h01_last_reason = 0;
	pthread_once(&once, h01_register_fork);
	*out = (struct at_solver){ .type = AT_CHALLENGE_HTTP_01,
				   .present = cfg->webroot ? at_http01_webroot_present : at_http01_responder_present,
				   .cleanup = cfg->webroot ? at_http01_webroot_cleanup : at_http01_responder_cleanup,
				   .ctx = (void *)cfg };
	return 0;
}
