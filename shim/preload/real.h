/*
 * The real OpenSSL functions, found once at run time.
 *
 * libautotls.so does not link libssl or libcrypto (a DT_NEEDED entry would map them, and libcurl's long tail,
 * into every process the preload reaches: shells, `nginx -t`, launch scripts). The first interposed call proves
 * libssl is loaded; we then look every symbol up with dlsym(RTLD_NEXT) and, when that fails because the host
 * opened libssl RTLD_LOCAL (Debian's python3 _ssl module), through dlopen("libssl.so.3", RTLD_NOLOAD).
 * The shim's own calls to functions it interposes always go through these pointers, never to our exports.
 */
#ifndef AUTOTLS_SHIM_PRELOAD_REAL_H
#define AUTOTLS_SHIM_PRELOAD_REAL_H

#include <openssl/ssl.h>

struct real_ssl {
	/* interposed: the originals */
	SSL_CTX *(*SSL_CTX_new_ex)(OSSL_LIB_CTX *, const char *, const SSL_METHOD *);
	void (*SSL_CTX_set_client_hello_cb)(SSL_CTX *, SSL_client_hello_cb_fn, void *);
	void (*SSL_CTX_set_cert_cb)(SSL_CTX *, int (*)(SSL *, void *), void *);
	void (*SSL_set_cert_cb)(SSL *, int (*)(SSL *, void *), void *);
	void (*SSL_CTX_set_alpn_select_cb)(SSL_CTX *, SSL_CTX_alpn_select_cb_func, void *);
	long (*SSL_CTX_ctrl)(SSL_CTX *, int, long, void *);            /* the OCSP status callback's argument */
	long (*SSL_CTX_callback_ctrl)(SSL_CTX *, int, void (*)(void)); /* the OCSP status callback */
	/* used by the handshake path */
	int (*SSL_is_server)(const SSL *);
	SSL_CTX *(*SSL_get_SSL_CTX)(const SSL *);
	void *(*SSL_CTX_get_ex_data)(const SSL_CTX *, int);
	int (*SSL_CTX_set_ex_data)(SSL_CTX *, int, void *);
	void *(*SSL_get_ex_data)(const SSL *, int);
	int (*SSL_set_ex_data)(SSL *, int, void *);
	int (*SSL_client_hello_get0_ext)(SSL *, unsigned int, const unsigned char **, size_t *);
	const char *(*SSL_get_servername)(const SSL *, const int);
	int (*SSL_get_fd)(const SSL *);
	int (*SSL_use_cert_and_key)(SSL *, X509 *, EVP_PKEY *, STACK_OF(X509) *, int);
	void (*SSL_certs_clear)(SSL *);
	int (*SSL_get_security_level)(const SSL *);
	uint64_t (*SSL_set_options)(SSL *, uint64_t);
	long (*SSL_ctrl)(SSL *, int, long, void *); /* the client's status_request, the staple */
	void *(*CRYPTO_malloc)(size_t, const char *, int);
	int (*CRYPTO_get_ex_new_index)(int, long, void *, CRYPTO_EX_new *, CRYPTO_EX_dup *, CRYPTO_EX_free *);
	/* client-only and DTLS methods, compared by pointer to skip contexts that can never serve (research 3.4) */
	const SSL_METHOD *(*TLS_client_method)(void);
	const SSL_METHOD *(*TLSv1_2_client_method)(void);
	const SSL_METHOD *(*DTLS_method)(void);
	const SSL_METHOD *(*DTLS_server_method)(void);
	const SSL_METHOD *(*DTLS_client_method)(void);
};

/* The table, resolved on first use (pthread_once). NULL when a required symbol is missing: the shim is then
 * passive and every interposer passes straight through (there is nothing else it can do). */
const struct real_ssl *real_ssl(void);

/* The table as far as it resolved (fields may be NULL): for interposers that must pass through even when the
 * shim is passive (SSL_CTX_ctrl, SSL_CTX_callback_ctrl). */
const struct real_ssl *real_ssl_partial(void);

/* The real SSL_CTX_new_ex alone (needed even when the rest failed to resolve). */
SSL_CTX *real_SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq, const SSL_METHOD *meth);

#endif
