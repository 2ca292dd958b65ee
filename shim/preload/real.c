/* Resolving the real OpenSSL symbols (see real.h). */
#include "shim/preload/real.h"
#include "util/log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

static struct real_ssl table;
static const struct real_ssl *table_ok;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *find(void *h_ssl, void *h_crypto, const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (p == NULL && h_ssl)
		p = dlvsym(h_ssl, name, "OPENSSL_3.0.0");
	if (p == NULL && h_crypto)
		p = dlvsym(h_crypto, name, "OPENSSL_3.0.0");
	return p;
}

#define FIND(field)                                                                                       \
	do {                                                                                              \
		*(void **)&table.field = find(h_ssl, h_crypto, #field);                                    \
		if (table.field == NULL) {                                                                \
			at_log_error("OpenSSL symbol %s not found; the shim stays passive", #field);     \
			missing = 1;                                                                      \
		}                                                                                         \
	} while (0)

static void resolve(void)
{
	/* RTLD_NOLOAD: never load a libssl the host did not load itself. The handles are never closed. */
	void *h_ssl = dlopen("libssl.so.3", RTLD_LAZY | RTLD_NOLOAD);
	void *h_crypto = dlopen("libcrypto.so.3", RTLD_LAZY | RTLD_NOLOAD);
	int missing = 0;

	FIND(SSL_CTX_new_ex);
	FIND(SSL_CTX_set_client_hello_cb);
	FIND(SSL_CTX_set_cert_cb);
	FIND(SSL_set_cert_cb);
	FIND(SSL_CTX_set_alpn_select_cb);
	FIND(SSL_CTX_ctrl);
	FIND(SSL_CTX_callback_ctrl);
	FIND(SSL_ctrl);
	FIND(CRYPTO_malloc);
	FIND(SSL_is_server);
	FIND(SSL_get_SSL_CTX);
	FIND(SSL_CTX_get_ex_data);
	FIND(SSL_CTX_set_ex_data);
	FIND(SSL_get_ex_data);
	FIND(SSL_set_ex_data);
	FIND(SSL_client_hello_get0_ext);
	FIND(SSL_get_servername);
	FIND(SSL_get_fd);
	FIND(SSL_use_cert_and_key);
	FIND(SSL_certs_clear);
	FIND(SSL_get_security_level);
	FIND(SSL_set_options);
	FIND(CRYPTO_get_ex_new_index);
	FIND(TLS_client_method);
	FIND(TLSv1_2_client_method);
	FIND(DTLS_method);
	FIND(DTLS_server_method);
	FIND(DTLS_client_method);
	if (!missing)
		table_ok = &table;
}

const struct real_ssl *real_ssl(void)
{
	pthread_once(&once, resolve);
	return table_ok;
}

const struct real_ssl *real_ssl_partial(void)
{
	pthread_once(&once, resolve);
	return &table;
}

SSL_CTX *real_SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq, const SSL_METHOD *meth)
{
	pthread_once(&once, resolve);
	if (table.SSL_CTX_new_ex == NULL)
		return NULL;
	return table.SSL_CTX_new_ex(libctx, propq, meth);
}
