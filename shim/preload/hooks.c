/* The handshake callbacks (see hooks.h). */
#include "shim/preload/hooks.h"
#include "shim/preload/cache.h"
#include "shim/preload/clienthello.h"
#include "shim/preload/ondemand.h"
#include "shim/preload/real.h"
#include "shim/shm.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/tls1.h>
#include <linux/futex.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int (*hooks_sync_now)(void);
int (*hooks_poll)(void);
const struct shim_config *hooks_on_demand;
struct shm_region *hooks_on_demand_region;
struct shm_channel *hooks_on_demand_channel;

/* What the host installed on a context; owned by the context through its ex_data (freed with it). */
struct ctx_hooks {
	SSL_client_hello_cb_fn ch_cb;
	void *ch_arg;
	int (*cert_cb)(SSL *, void *);
	void *cert_arg;
	SSL_CTX_alpn_select_cb_func alpn_cb;
	void *alpn_arg;
	int (*status_cb)(SSL *, void *); /* the host's OCSP status callback (its own stapling), NULL: none */
	void *status_arg;
};

/* A host's per-connection certificate callback (Node's SSL_set_cert_cb); owned by the SSL's ex_data. */
struct ssl_cert_hook {
	int (*cb)(SSL *, void *);
	void *arg;
};

static int ctx_idx = -1, ssl_mark_idx = -1, ssl_cb_idx = -1, ssl_staple_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

/* The value stored in a marked connection's ex_data: any non-NULL address, no allocation. */
static char challenge_mark;
/* A connection served a managed certificate that asked for its status: stapled (our response set) or not (the
 * certificate has none): either way the host's status callback is not asked, its staple is for its own
 * certificate. Set only when the client sent status_request. */
static char stapled_mark, unstapled_mark;

static void free_owned(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static void make_indexes(void)
{
	const struct real_ssl *r = real_ssl();
	if (r == NULL)
		return;
	ctx_idx = r->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, NULL, free_owned);
	ssl_mark_idx = r->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, NULL);
	ssl_cb_idx = r->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, free_owned);
	ssl_staple_idx = r->CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, NULL, NULL, NULL, NULL);
}

static struct ctx_hooks *hooks_of(const SSL_CTX *ctx)
{
	const struct real_ssl *r = real_ssl();
	if (r == NULL || ctx == NULL || ctx_idx < 0)
		return NULL;
	return r->SSL_CTX_get_ex_data(ctx, ctx_idx);
}

/* 0, AT_E_NOTFOUND or AT_E_PARSE, as ch_parse_sni. */
static int sni_from_hello(const struct real_ssl *r, SSL *ssl, char out[CH_SNI_MAX + 1])
{
	const unsigned char *p;
	size_t n;
	if (r->SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) != 1)
		return AT_E_NOTFOUND;
	return ch_parse_sni(p, n, out);
}

static int shim_client_hello_cb(SSL *ssl, int *al, void *arg)
{
	const struct real_ssl *r = real_ssl();
	struct ctx_hooks *h = arg;
	const unsigned char *alpn;
	size_t alpn_len;

	/* A HelloRetryRequest runs this twice in TLS 1.3: marking is idempotent. */
	if (r->SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &alpn,
					 &alpn_len) == 1 &&
	    ch_alpn_only_acme(alpn, alpn_len)) {
		char sni[CH_SNI_MAX + 1];
		if (sni_from_hello(r, ssl, sni) == 0) {
			const struct cache_snapshot *s = cache_current();
			if (cache_find_challenge(s, sni) == NULL && hooks_sync_now) {
				/* The validator may arrive before this process's follower caught up. */
				hooks_sync_now();
				s = cache_current();
			}
			if (cache_find_challenge(s, sni) != NULL) {
				r->SSL_set_ex_data(ssl, ssl_mark_idx, &challenge_mark);
				/* RFC 8737 section 3: the validation handshake must not set up resumption. */
				r->SSL_set_options(ssl, SSL_OP_NO_TICKET);
			}
		}
	}
	if (h && h->ch_cb)
		return h->ch_cb(ssl, al, h->ch_arg);
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int is_marked(const struct real_ssl *r, const SSL *ssl)
{
	return r->SSL_get_ex_data(ssl, ssl_mark_idx) == &challenge_mark;
}

static int shim_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
			unsigned int inlen, void *arg)
{
	const struct real_ssl *r = real_ssl();
	struct ctx_hooks *h = arg;

	if (is_marked(r, ssl)) {
		/* The offer was exactly acme-tls/1 (checked in the ClientHello callback): select it from the
		 * client's own list, as OpenSSL expects out to point into in. */
		if (inlen == 11 && in[0] == 10) {
			*out = in + 1;
			*outlen = 10;
			return SSL_TLSEXT_ERR_OK;
		}
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	/* After SSL_set_SSL_CTX the callback installed is the switched-to context's: use its hooks. */
	struct ctx_hooks *cur = hooks_of(r->SSL_get_SSL_CTX(ssl));
	if (cur == NULL)
		cur = h;
	if (cur && cur->alpn_cb)
		return cur->alpn_cb(ssl, out, outlen, in, inlen, cur->alpn_arg);
	return SSL_TLSEXT_ERR_NOACK;
}

/* The local address of the connection as canonical text (IPv4-mapped IPv6 as IPv4). */
static int local_address(const struct real_ssl *r, SSL *ssl, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = r->SSL_get_fd(ssl);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)size) ? 0 : -1;
	if (ss.ss_family != AF_INET6)
		return -1;
	const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a))
		return inet_ntop(AF_INET, a->s6_addr + 12, out, (socklen_t)size) ? 0 : -1;
	return inet_ntop(AF_INET6, a, out, (socklen_t)size) ? 0 : -1;
}

/* Waits (AUTOTLS_ON_DEMAND_WAIT) until the region publishes a certificate for name or the time is up; every
 * publication wakes it, it syncs this process's cache and looks again. */
static const struct cache_cert *ondemand_wait(struct shm_region *r, long wait_s, const char *name)
{
	struct timespec end, now;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += wait_s;
	for (;;) {
		uint32_t seen = atomic_load(&r->futex);
		if (hooks_sync_now)
			hooks_sync_now();
		const struct cache_cert *c = cache_find_cert(cache_current(), name, time(NULL));
		if (c != NULL)
			return c;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left_ms = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
		if (left_ms <= 0)
			return NULL;
		struct timespec ts = { .tv_sec = left_ms / 1000, .tv_nsec = (left_ms % 1000) * 1000000L };
		syscall(SYS_futex, (uint32_t *)&r->futex, FUTEX_WAIT, seen, &ts, NULL, 0);
	}
}

/*
 * The managed certificate's OCSP response, for a client that asked (status_request, RFC 6066 section 8): a copy
 * OpenSSL owns and frees with the connection (SSL_set_tlsext_status_ocsp_resp takes it; the one allocation on
 * this path, and only when a response is stapled), sent from our status callback. Past the response's
 * nextUpdate nothing is stapled (the manager failed to refresh it; a client would refuse it).
 */
static void staple(const struct real_ssl *r, SSL *ssl, const struct cache_cert *c)
{
	if (ssl_staple_idx < 0 || r->SSL_ctrl(ssl, SSL_CTRL_GET_TLSEXT_STATUS_REQ_TYPE, 0, NULL) != TLSEXT_STATUSTYPE_ocsp)
		return;
	void *mark = &unstapled_mark;
	if (c->ocsp != NULL && c->ocsp_len > 0 && c->ocsp_until > time(NULL)) {
		unsigned char *copy = r->CRYPTO_malloc(c->ocsp_len, __FILE__, __LINE__);
		if (copy != NULL) {
			memcpy(copy, c->ocsp, c->ocsp_len);
			r->SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP, (long)c->ocsp_len, copy);
			mark = &stapled_mark;
		}
	}
	r->SSL_set_ex_data(ssl, ssl_staple_idx, mark);
}

/* Our status callback, in front of the host's: a managed certificate's connection gets our staple or none; every
 * other connection (and every client connection: there the callback checks the server's staple) gets exactly what
 * the host's own callback says, or what OpenSSL does without one. */
static int shim_status_cb(SSL *ssl, void *arg)
{
	const struct real_ssl *r = real_ssl();
	struct ctx_hooks *h = arg;
	int server = r->SSL_is_server(ssl);
	if (server && ssl_staple_idx >= 0) {
		void *mark = r->SSL_get_ex_data(ssl, ssl_staple_idx);
		if (mark == &stapled_mark)
			return SSL_TLSEXT_ERR_OK;
		if (mark == &unstapled_mark)
			return SSL_TLSEXT_ERR_NOACK;
	}
	if (h && h->status_cb)
		return h->status_cb(ssl, h->status_arg);
	/* No host callback: a server sends no status, a client accepts the handshake (OpenSSL's own behaviour). */
	return server ? SSL_TLSEXT_ERR_NOACK : 1;
}

static int shim_cert_cb(SSL *ssl, void *arg)
{
	const struct real_ssl *r = real_ssl();
	struct ctx_hooks *h = arg;
	struct ssl_cert_hook *sh = ssl_cb_idx >= 0 ? r->SSL_get_ex_data(ssl, ssl_cb_idx) : NULL;
	int rc = 1;

	/* A connection object used again (SSL_clear) keeps its ex_data: forget an earlier handshake's staple. */
	if (ssl_staple_idx >= 0 && r->SSL_get_ex_data(ssl, ssl_staple_idx) != NULL)
		r->SSL_set_ex_data(ssl, ssl_staple_idx, NULL);

	if (sh && sh->cb)
		rc = sh->cb(ssl, sh->arg);
	else if (h && h->cert_cb)
		rc = h->cert_cb(ssl, h->cert_arg);
	/* The host's error or retry (< 1) goes back unchanged, and clients are not ours to touch. */
	if (rc <= 0 || !r->SSL_is_server(ssl))
		return rc;

	if (hooks_poll)
		(void)hooks_poll();
	const struct cache_snapshot *s = cache_current();
	if (s == NULL)
		return rc;
	const char *sni = r->SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char addr[INET6_ADDRSTRLEN];
	if (sni == NULL) {
		/* A client that connects to an address sends no SNI (RFC 6066 section 3 forbids literals in it):
		 * serve a managed IP certificate for the address it reached. One getsockname, only then. */
		if (!s->has_ip || is_marked(r, ssl) || local_address(r, ssl, addr, sizeof(addr)) != 0)
			return rc;
		sni = addr;
	}
	char lower[CH_SNI_MAX + 1];
	size_t n = strnlen(sni, sizeof(lower));
	if (n == sizeof(lower))
		return rc;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)(sni[i] >= 'A' && sni[i] <= 'Z' ? sni[i] - 'A' + 'a' : sni[i]);

	const struct cache_cert *c;
	if (is_marked(r, ssl)) {
		c = cache_find_challenge(s, lower);
		if (c == NULL)
			return rc;
	} else {
		c = cache_find_cert(s, lower, time(NULL));
		if (c == NULL) {
			/* Not managed (yet): the host's own certificate now; on-demand may ask for it in the
			 * background, so that a later handshake gets one. Only with AUTOTLS_ON_DEMAND_WAIT (a
			 * threaded server's choice) does this thread wait for it. */
			if (!hooks_on_demand || sni == addr || !ondemand_qualifies(hooks_on_demand, lower))
				return rc;
			ondemand_post(hooks_on_demand_channel, lower);
			if (hooks_on_demand->on_demand_wait_s <= 0 ||
			    (c = ondemand_wait(hooks_on_demand_region, hooks_on_demand->on_demand_wait_s, lower)) == NULL)
				return rc;
		}
	}
	struct cache_cert parsed;
	if (c->leaf == NULL) {
		/* Parsed on its first use in this process. (cache_current again: an on-demand wait may have
		 * outlived s.) A record that cannot be had: the host's certificate. */
		s = cache_current();
		if (s == NULL || s->resolve == NULL || (c = s->resolve(c, &parsed)) == NULL)
			return rc;
		/* Once a period per record and process (shim/ondemand_idle.h): an on-demand name asked for is
		 * renewed; one nobody asks for stops being renewed. */
		if (c->ask_due && hooks_on_demand && sni != addr && ondemand_qualifies(hooks_on_demand, lower))
			ondemand_touch(hooks_on_demand_channel, lower);
	}
	if (c->refused_levels != 0) {
		/* OpenSSL would refuse this certificate at this connection's security level (found when the
		 * snapshot was built): the host's own certificate works where ours cannot; logged once by the
		 * manager thread, never here. */
		unsigned bit = cache_level_bit(r->SSL_get_security_level(ssl));
		if (c->refused_levels & bit) {
			cache_note_refused(bit);
			return rc;
		}
	}
	r->SSL_certs_clear(ssl);
	if (r->SSL_use_cert_and_key(ssl, c->leaf, c->key, c->chain, 1) != 1)
		return 0; /* the slots were cleared: failing the handshake beats serving nothing */
	if (!is_marked(r, ssl))
		staple(r, ssl, c);
	return 1;
}

int hooks_install(SSL_CTX *ctx)
{
	const struct real_ssl *r = real_ssl();
	pthread_once(&idx_once, make_indexes);
	if (r == NULL || ctx_idx < 0 || ssl_mark_idx < 0 || ssl_cb_idx < 0 || ssl_staple_idx < 0)
		return AT_E_STATE;
	struct ctx_hooks *h = calloc(1, sizeof(*h));
	if (h == NULL || r->SSL_CTX_set_ex_data(ctx, ctx_idx, h) != 1) {
		free(h);
		return AT_E_NOMEM;
	}
	r->SSL_CTX_set_client_hello_cb(ctx, shim_client_hello_cb, h);
	r->SSL_CTX_set_cert_cb(ctx, shim_cert_cb, h);
	r->SSL_CTX_set_alpn_select_cb(ctx, shim_alpn_cb, h);
	/* SSL_CTX_set_tlsext_status_cb and _arg, which are macros over these two. */
	r->SSL_CTX_callback_ctrl(ctx, SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB, (void (*)(void))shim_status_cb);
	r->SSL_CTX_ctrl(ctx, SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB_ARG, 0, h);
	return 0;
}

bool hooks_installed(const SSL_CTX *ctx)
{
	return hooks_of(ctx) != NULL;
}

int hooks_take_client_hello_cb(SSL_CTX *ctx, SSL_client_hello_cb_fn cb, void *arg)
{
	struct ctx_hooks *h = hooks_of(ctx);
	if (h == NULL)
		return AT_E_NOTFOUND;
	h->ch_cb = cb;
	h->ch_arg = arg;
	return 0;
}

int hooks_take_cert_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *), void *arg)
{
	struct ctx_hooks *h = hooks_of(ctx);
	if (h == NULL)
		return AT_E_NOTFOUND;
	h->cert_cb = cb;
	h->cert_arg = arg;
	return 0;
}

int hooks_take_alpn_cb(SSL_CTX *ctx, SSL_CTX_alpn_select_cb_func cb, void *arg)
{
	struct ctx_hooks *h = hooks_of(ctx);
	if (h == NULL)
		return AT_E_NOTFOUND;
	h->alpn_cb = cb;
	h->alpn_arg = arg;
	return 0;
}

int hooks_status_ctrl(SSL_CTX *ctx, int cmd, void *parg, long *ret)
{
	struct ctx_hooks *h = hooks_of(ctx);
	if (h == NULL)
		return AT_E_NOTFOUND;
	switch (cmd) {
	case SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB_ARG:
		h->status_arg = parg;
		break;
	case SSL_CTRL_GET_TLSEXT_STATUS_REQ_CB:
		*(int (**)(SSL *, void *))parg = h->status_cb;
		break;
	case SSL_CTRL_GET_TLSEXT_STATUS_REQ_CB_ARG:
		*(void **)parg = h->status_arg;
		break;
	default:
		return AT_E_NOTFOUND;
	}
	*ret = 1;
	return 0;
}

int hooks_take_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *))
{
	struct ctx_hooks *h = hooks_of(ctx);
	if (h == NULL)
		return AT_E_NOTFOUND;
	h->status_cb = cb;
	return 0;
}

int hooks_take_ssl_cert_cb(SSL *ssl, int (*cb)(SSL *, void *), void *arg)
{
	const struct real_ssl *r = real_ssl();
	if (r == NULL || ssl_cb_idx < 0 || !hooks_installed(r->SSL_get_SSL_CTX(ssl)))
		return AT_E_NOTFOUND;
	struct ssl_cert_hook *sh = r->SSL_get_ex_data(ssl, ssl_cb_idx);
	if (sh == NULL) {
		sh = calloc(1, sizeof(*sh));
		if (sh == NULL || r->SSL_set_ex_data(ssl, ssl_cb_idx, sh) != 1) {
			free(sh);
			return AT_E_NOMEM;
		}
	}
	sh->cb = cb;
	sh->arg = arg;
	/* Ours stays the SSL's callback; it calls the host's first. */
	r->SSL_set_cert_cb(ssl, shim_cert_cb, hooks_of(r->SSL_get_SSL_CTX(ssl)));
	return 0;
}
