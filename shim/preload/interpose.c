/*
 * The symbols libautotls.so exports: the only ones (-fvisibility=hidden hides everything else). Each behaves
 * exactly like OpenSSL's for anything the shim does not manage; see hooks.h for what changes on a hooked
 * server context.
 */
#include "shim/preload/hooks.h"
#include "shim/preload/init.h"
#include "shim/preload/real.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT SSL_CTX *SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq, const SSL_METHOD *meth);
EXPORT SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth);
EXPORT void SSL_CTX_set_client_hello_cb(SSL_CTX *c, SSL_client_hello_cb_fn cb, void *arg);
EXPORT void SSL_CTX_set_cert_cb(SSL_CTX *c, int (*cb)(SSL *, void *), void *arg);
EXPORT void SSL_set_cert_cb(SSL *s, int (*cb)(SSL *, void *), void *arg);
EXPORT void SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx, SSL_CTX_alpn_select_cb_func cb, void *arg);
EXPORT long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg);
EXPORT long SSL_CTX_callback_ctrl(SSL_CTX *ctx, int cmd, void (*fp)(void));

/* Client-only and DTLS methods can never serve a TLS-ALPN-01 validation or a managed name (research 3.4). */
static int can_serve(const struct real_ssl *r, const SSL_METHOD *m)
{
	return m != r->TLS_client_method() && m != r->TLSv1_2_client_method() && m != r->DTLS_method() &&
	       m != r->DTLS_server_method() && m != r->DTLS_client_method();
}

SSL_CTX *SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq, const SSL_METHOD *meth)
{
	SSL_CTX *ctx = real_SSL_CTX_new_ex(libctx, propq, meth);
	if (ctx == NULL || !shim_active() || shim_in_manager())
		return ctx;
	const struct real_ssl *r = real_ssl();
	if (r == NULL || meth == NULL || !can_serve(r, meth))
		return ctx;
	if (hooks_install(ctx) == 0)
		shim_on_server_ctx();
	return ctx;
}

/* OpenSSL's own SSL_CTX_new is SSL_CTX_new_ex(NULL, NULL, meth) reached through libssl's PLT, which lands on
 * ours above: calling the real SSL_CTX_new here would hook every context twice. */
SSL_CTX *SSL_CTX_new(const SSL_METHOD *meth)
{
	return SSL_CTX_new_ex(NULL, NULL, meth);
}

void SSL_CTX_set_client_hello_cb(SSL_CTX *c, SSL_client_hello_cb_fn cb, void *arg)
{
	const struct real_ssl *r = real_ssl();
	if (hooks_take_client_hello_cb(c, cb, arg) == 0)
		return;
	if (r)
		r->SSL_CTX_set_client_hello_cb(c, cb, arg);
}

void SSL_CTX_set_cert_cb(SSL_CTX *c, int (*cb)(SSL *, void *), void *arg)
{
	const struct real_ssl *r = real_ssl();
	if (hooks_take_cert_cb(c, cb, arg) == 0)
		return;
	if (r)
		r->SSL_CTX_set_cert_cb(c, cb, arg);
}

void SSL_set_cert_cb(SSL *s, int (*cb)(SSL *, void *), void *arg)
{
	const struct real_ssl *r = real_ssl();
	if (hooks_take_ssl_cert_cb(s, cb, arg) == 0)
		return;
	if (r)
		r->SSL_set_cert_cb(s, cb, arg);
}

void SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx, SSL_CTX_alpn_select_cb_func cb, void *arg)
{
	const struct real_ssl *r = real_ssl();
	if (hooks_take_alpn_cb(ctx, cb, arg) == 0)
		return;
	if (r)
		r->SSL_CTX_set_alpn_select_cb(ctx, cb, arg);
}

/* SSL_CTX_set_tlsext_status_cb / _arg and their getters are macros over these two: the host's status callback
 * goes behind ours (hooks.h), everything else straight to OpenSSL (one compare). */
long SSL_CTX_ctrl(SSL_CTX *ctx, int cmd, long larg, void *parg)
{
	const struct real_ssl *r = real_ssl_partial();
	long ret;
	if ((cmd == SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB_ARG || cmd == SSL_CTRL_GET_TLSEXT_STATUS_REQ_CB ||
	     cmd == SSL_CTRL_GET_TLSEXT_STATUS_REQ_CB_ARG) && real_ssl() != NULL &&
	    hooks_status_ctrl(ctx, cmd, parg, &ret) == 0)
		return ret;
	return r->SSL_CTX_ctrl ? r->SSL_CTX_ctrl(ctx, cmd, larg, parg) : 0;
}

long SSL_CTX_callback_ctrl(SSL_CTX *ctx, int cmd, void (*fp)(void))
{
	const struct real_ssl *r = real_ssl_partial();
	if (cmd == SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB && real_ssl() != NULL &&
	    hooks_take_status_cb(ctx, (int (*)(SSL *, void *))fp) == 0)
		return 1;
	return r->SSL_CTX_callback_ctrl ? r->SSL_CTX_callback_ctrl(ctx, cmd, fp) : 0;
}
