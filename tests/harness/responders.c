/*
 * Challenge responders for tests (see responders.h).
 *
 * TLS-ALPN-01 and HTTP-01 each own one listening socket on 127.0.0.1 and one thread that accepts and serves one
 * connection at a time, with read/write timeouts so a silent client cannot hold it for long. The thread polls
 * the listener together with a wake-up pipe, so responder_stop ends it at once. The presented challenges live
 * in a small table (16 entries) under the responder's mutex; present/cleanup run on the ACME client's thread.
 *
 * TLS-ALPN-01 (RFC 8737 section 3): the ClientHello callback parses SNI and ALPN from the raw extensions,
 * bound-checking every length, and only when "acme-tls/1" is offered (matched by exact length) for a presented
 * name installs that name's validation certificate on this one SSL. Anything else is refused with an alert:
 * the context itself has no certificate at all.
 *
 * DNS-01 keeps no listener: it sets and clears TXT records in pebble-challtestsrv, and counts as answered the
 * TXT queries the mock DNS logged for the name (its /dns-request-history), read when the record is cleaned up.
 */
#include "tests/harness/responders.h"
#include "tests/harness/fetch.h"
#include "util/err.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_ENTRIES 16
#define IO_TIMEOUT_S 5
#define HTTP_MAX_REQUEST 8192
#define ACME_TLS_1 "acme-tls/1"
#define ACME_TLS_1_LEN 10

struct entry {
	int used;
	char name[256];   /* TLS-ALPN: the SNI; HTTP: the token; DNS: the TXT host */
	X509 *cert;       /* TLS-ALPN */
	EVP_PKEY *key;    /* TLS-ALPN */
	char *body;       /* HTTP: the key authorization */
};

struct responder {
	enum at_challenge_type type;
	pthread_mutex_t lock;
	struct entry entries[MAX_ENTRIES];
	int presented;
	int answered;

	int listen_fd;
	int wake[2];
	void (*serve)(struct responder *r, int fd); /* TLS-ALPN, HTTP: one accepted connection, then close(fd) */
	pthread_t thread;
	int thread_running;
	SSL_CTX *ctx;
	struct pebble *pebble; /* DNS: borrowed */
};

/* ---- common ---- */

static void entry_clear(struct entry *e)
{
	X509_free(e->cert);
	EVP_PKEY_free(e->key);
	free(e->body);
	memset(e, 0, sizeof(*e));
}

/* The entry for name, or NULL. Call with the lock held. */
static struct entry *entry_find(struct responder *r, const char *name, size_t len)
{
	for (int i = 0; i < MAX_ENTRIES; i++) {
		struct entry *e = &r->entries[i];
		if (e->used && strlen(e->name) == len && strncasecmp(e->name, name, len) == 0)
			return e;
	}
	return NULL;
}

/* The entry for name, reusing it or a free one (cleared); NULL when full. Call with the lock held. */
static struct entry *entry_slot(struct responder *r, const char *name)
{
	struct entry *e = entry_find(r, name, strlen(name));
	if (e == NULL)
		for (int i = 0; i < MAX_ENTRIES && e == NULL; i++)
			if (!r->entries[i].used)
				e = &r->entries[i];
	if (e == NULL)
		return NULL;
	entry_clear(e);
	e->used = 1;
	snprintf(e->name, sizeof(e->name), "%s", name);
	return e;
}

static void entry_remove(struct responder *r, const char *name)
{
	if (name == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	struct entry *e = entry_find(r, name, strlen(name));
	if (e != NULL)
		entry_clear(e);
	pthread_mutex_unlock(&r->lock);
}

static void count_answered(struct responder *r)
{
	pthread_mutex_lock(&r->lock);
	r->answered++;
	pthread_mutex_unlock(&r->lock);
}

static struct responder *responder_new(enum at_challenge_type type)
{
	struct responder *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->type = type;
	r->listen_fd = -1;
	r->wake[0] = r->wake[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	return r;
}

static int listen_on(int port)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0) {
		fprintf(stderr, "responder: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void set_timeouts(int fd)
{
	struct timeval tv = {IO_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Waits for a connection or the wake-up pipe. Returns the accepted fd, -1 to retry, -2 to stop. */
static int accept_one(struct responder *r)
{
	struct pollfd pf[2] = {{r->listen_fd, POLLIN, 0}, {r->wake[0], POLLIN, 0}};
	int n = poll(pf, 2, 1000);

	if (n < 0 && errno != EINTR)
		return -2;
	if (n <= 0)
		return -1;
	if (pf[1].revents)
		return -2;
	if (!(pf[0].revents & POLLIN))
		return -1;
	int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -1;
	set_timeouts(fd);
	return fd;
}

/* The listener thread: one connection at a time, handed to r->serve, until responder_stop wakes it. */
static void *serve_thread(void *arg)
{
	struct responder *r = arg;
	for (;;) {
		int fd = accept_one(r);
		if (fd == -2)
			break;
		if (fd >= 0)
			r->serve(r, fd);
	}
	if (r->ctx != NULL)
		OPENSSL_thread_stop(); /* TLS-ALPN: this thread's OpenSSL state */
	return NULL;
}

/* Listens on 127.0.0.1:port and starts serve_thread over serve. 0 or -1. */
static int start_thread(struct responder *r, void (*serve)(struct responder *r, int fd), int port)
{
	harness_ignore_sigpipe();
	r->serve = serve;
	r->listen_fd = listen_on(port);
	if (r->listen_fd < 0 || pipe2(r->wake, O_CLOEXEC) != 0)
		return -1;
	if (pthread_create(&r->thread, NULL, serve_thread, r) != 0)
		return -1;
	r->thread_running = 1;
	return 0;
}

/* The end of every start: the solver over r, and r handed to the caller. 0. */
static int started(struct responder *r, struct at_solver *solver, struct responder **out,
		   int (*present)(void *ctx, const struct at_challenge *ch),
		   void (*cleanup)(void *ctx, const struct at_challenge *ch))
{
	solver->type = r->type;
	solver->present = present;
	solver->cleanup = cleanup;
	solver->ctx = r;
	*out = r;
	return 0;
}

int responder_presented(const struct responder *r)
{
	struct responder *m = (struct responder *)r; /* the lock is not part of the value */
	int n;
	pthread_mutex_lock(&m->lock);
	n = m->presented;
	pthread_mutex_unlock(&m->lock);
	return n;
}

int responder_answered(const struct responder *r)
{
	struct responder *m = (struct responder *)r;
	int n;
	pthread_mutex_lock(&m->lock);
	n = m->answered;
	pthread_mutex_unlock(&m->lock);
	return n;
}

void responder_stop(struct responder *r)
{
	if (r == NULL)
		return;
	if (r->thread_running) {
		char c = 'x';
		while (write(r->wake[1], &c, 1) < 0 && errno == EINTR)
			;
		pthread_join(r->thread, NULL);
	}
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	for (int i = 0; i < 2; i++)
		if (r->wake[i] >= 0)
			close(r->wake[i]);
	for (int i = 0; i < MAX_ENTRIES; i++)
		entry_clear(&r->entries[i]);
	SSL_CTX_free(r->ctx);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* ---- TLS-ALPN-01 ---- */

/* Per connection: set by the ClientHello callback, read by the ALPN callback. */
struct alpn_conn {
	int acme_offered;
	int matched;
};

static int alpn_conn_idx = -1;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void alpn_init_once(void)
{
	alpn_conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Whether the ALPN extension body (a ProtocolNameList, RFC 7301 section 3.1) offers acme-tls/1. -1: malformed. */
static int alpn_offers_acme(const unsigned char *p, size_t len)
{
	size_t list;

	if (len < 2)
		return -1;
	list = ((size_t)p[0] << 8) | p[1];
	if (list != len - 2 || list == 0)
		return -1;
	p += 2;
	len -= 2;
	int found = 0;
	while (len > 0) {
		size_t n = p[0];
		if (n == 0 || n > len - 1)
			return -1;
		if (n == ACME_TLS_1_LEN && memcmp(p + 1, ACME_TLS_1, ACME_TLS_1_LEN) == 0)
			found = 1;
		p += 1 + n;
		len -= 1 + n;
	}
	return found;
}

/* The host_name from a server_name extension body (RFC 6066 section 3). Returns 0 and the name (not NUL-terminated), or -1. */
static int sni_host_name(const unsigned char **name, size_t *name_len, const unsigned char *p, size_t len)
{
	size_t list;

	if (len < 2)
		return -1;
	list = ((size_t)p[0] << 8) | p[1];
	if (list != len - 2)
		return -1;
	p += 2;
	len -= 2;
	while (len >= 3) {
		unsigned type = p[0];
		size_t n = ((size_t)p[1] << 8) | p[2];
		if (n > len - 3)
			return -1;
		if (type == 0) { /* host_name */
			if (n == 0 || n > 255 || memchr(p + 3, '\0', n) != NULL)
				return -1;
			*name = p + 3;
			*name_len = n;
			return 0;
		}
		p += 3 + n;
		len -= 3 + n;
	}
	return -1;
}

static int tls_client_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct responder *r = arg;
	struct alpn_conn *conn = SSL_get_ex_data(ssl, alpn_conn_idx);
	const unsigned char *ext, *name = NULL;
	size_t ext_len, name_len = 0;
	int ok = 0;

	if (conn == NULL) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &ext_len) ||
	    alpn_offers_acme(ext, ext_len) != 1) {
		*al = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	conn->acme_offered = 1;
	if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) ||
	    sni_host_name(&name, &name_len, ext, ext_len) != 0) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	pthread_mutex_lock(&r->lock);
	struct entry *e = entry_find(r, (const char *)name, name_len);
	/* SSL_use_* take their own references, so cleanup may free the entry while this handshake runs. */
	if (e != NULL)
		ok = SSL_use_certificate(ssl, e->cert) == 1 && SSL_use_PrivateKey(ssl, e->key) == 1;
	pthread_mutex_unlock(&r->lock);
	if (!ok) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	conn->matched = 1;
	return SSL_CLIENT_HELLO_SUCCESS;
}

static int tls_alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
			      unsigned int inlen, void *arg)
{
	struct alpn_conn *conn = SSL_get_ex_data(ssl, alpn_conn_idx);
	(void)arg;

	if (conn == NULL || !conn->matched)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	/* in is the client's wire-format list, already checked by OpenSSL; match acme-tls/1 by exact length. */
	for (unsigned int i = 0; i < inlen;) {
		unsigned int n = in[i];
		if (n > inlen - i - 1)
			break;
		if (n == ACME_TLS_1_LEN && memcmp(in + i + 1, ACME_TLS_1, ACME_TLS_1_LEN) == 0) {
			*out = in + i + 1;
			*outlen = (unsigned char)n;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void tls_serve(struct responder *r, int fd)
{
	struct alpn_conn conn = {0, 0};
	SSL *ssl = SSL_new(r->ctx);

	if (ssl == NULL || !SSL_set_ex_data(ssl, alpn_conn_idx, &conn) || !SSL_set_fd(ssl, fd))
		goto out;
	if (SSL_accept(ssl) == 1) {
		if (conn.matched)
			count_answered(r);
		SSL_shutdown(ssl);
	}
out:
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
}

static int tls_present(void *ctx, const struct at_challenge *ch)
{
	struct responder *r = ctx;
	const char *sni = ch->alpn_sni ? ch->alpn_sni : ch->identifier;
	int ret = 0;

	if (ch->type != AT_CHALLENGE_TLS_ALPN_01 || sni == NULL || ch->alpn_cert == NULL || ch->alpn_key == NULL ||
	    strlen(sni) > 255)
		return AT_E_INVAL;
	pthread_mutex_lock(&r->lock);
	struct entry *e = entry_slot(r, sni);
	if (e == NULL) {
		ret = AT_E_RANGE;
	} else {
		/* The entry holds its own references; each is recorded as soon as it is taken. */
		if (X509_up_ref(ch->alpn_cert))
			e->cert = ch->alpn_cert;
		if (e->cert != NULL && EVP_PKEY_up_ref(ch->alpn_key))
			e->key = ch->alpn_key;
		if (e->key == NULL) {
			entry_clear(e);
			ret = AT_E_CRYPTO;
		} else {
			r->presented++;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void tls_cleanup(void *ctx, const struct at_challenge *ch)
{
	entry_remove(ctx, ch->alpn_sni ? ch->alpn_sni : ch->identifier);
}

int responder_tls_alpn_start(struct responder **out, struct at_solver *solver, int port)
{
	struct responder *r = responder_new(AT_CHALLENGE_TLS_ALPN_01);

	pthread_once(&alpn_once, alpn_init_once);
	if (r == NULL || alpn_conn_idx < 0)
		goto fail;
	r->ctx = SSL_CTX_new(TLS_server_method());
	if (r->ctx == NULL || !SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION))
		goto fail;
	SSL_CTX_set_session_cache_mode(r->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(r->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_client_hello_cb(r->ctx, tls_client_hello_cb, r);
	SSL_CTX_set_alpn_select_cb(r->ctx, tls_alpn_select_cb, r);
	if (start_thread(r, tls_serve, port) != 0)
		goto fail;
	return started(r, solver, out, tls_present, tls_cleanup);
fail:
	responder_stop(r);
	return -1;
}

/* ---- HTTP-01 ---- */

#define HTTP_PREFIX "/.well-known/acme-challenge/"

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void http_reply(int fd, int status, const char *body, int head_only)
{
	char hdr[256];
	const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request";
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason, status == 200 ? "application/octet-stream" : "text/plain", blen);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return;
	write_all(fd, hdr, (size_t)n);
	if (!head_only && blen)
		write_all(fd, body, blen);
}

static void http_serve(struct responder *r, int fd)
{
	char req[HTTP_MAX_REQUEST + 1];
	size_t len = 0;
	char *body = NULL;

	/* Read the request head (up to the blank line), within the cap and the socket timeouts. */
	while (len < HTTP_MAX_REQUEST) {
		ssize_t n = recv(fd, req + len, HTTP_MAX_REQUEST - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL || strstr(req, "\n\n") != NULL)
			break;
	}
	req[len] = '\0';

	/* Request line: METHOD SP path SP version */
	char *sp1 = strchr(req, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL, *eol = strchr(req, '\n');
	if (sp1 == NULL || sp2 == NULL || eol == NULL || sp2 > eol) {
		http_reply(fd, 400, NULL, 0);
		goto out;
	}
	int is_get = (size_t)(sp1 - req) == 3 && memcmp(req, "GET", 3) == 0;
	int is_head = (size_t)(sp1 - req) == 4 && memcmp(req, "HEAD", 4) == 0;
	const char *path = sp1 + 1;
	size_t path_len = (size_t)(sp2 - path), plen = strlen(HTTP_PREFIX);
	if ((is_get || is_head) && path_len > plen && memcmp(path, HTTP_PREFIX, plen) == 0) {
		pthread_mutex_lock(&r->lock);
		struct entry *e = entry_find(r, path + plen, path_len - plen);
		if (e != NULL)
			body = strdup(e->body);
		pthread_mutex_unlock(&r->lock);
	}
	if (body != NULL) {
		count_answered(r); /* before the reply, so a client that has read it sees the count */
		http_reply(fd, 200, body, is_head);
	} else {
		http_reply(fd, 404, NULL, 0);
	}
out:
	free(body);
	close(fd);
}

static int http_present(void *ctx, const struct at_challenge *ch)
{
	struct responder *r = ctx;
	int ret = 0;

	if (ch->type != AT_CHALLENGE_HTTP_01 || ch->token == NULL || ch->key_authorization == NULL ||
	    ch->token[0] == '\0' || strlen(ch->token) > 255)
		return AT_E_INVAL;
	char *body = strdup(ch->key_authorization);
	if (body == NULL)
		return AT_E_NOMEM;
	pthread_mutex_lock(&r->lock);
	struct entry *e = entry_slot(r, ch->token);
	if (e == NULL) {
		ret = AT_E_RANGE;
		free(body);
	} else {
		e->body = body;
		r->presented++;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void http_cleanup(void *ctx, const struct at_challenge *ch)
{
	entry_remove(ctx, ch->token);
}

int responder_http_start(struct responder **out, struct at_solver *solver, int port)
{
	struct responder *r = responder_new(AT_CHALLENGE_HTTP_01);

	if (r == NULL || start_thread(r, http_serve, port) != 0)
		goto fail;
	return started(r, solver, out, http_present, http_cleanup);
fail:
	responder_stop(r);
	return -1;
}

/* ---- DNS-01 ---- */

/* How many TXT queries the mock DNS logged for host (without the final dot), then forgets them; 0 on error. */
static int dns_queries(struct pebble *p, const char *host)
{
	char url[256], *body = NULL, *req = NULL;
	cJSON *o = cJSON_CreateObject(), *hist = NULL, *it;
	long status = 0;
	int n = 0;

	if (o == NULL || cJSON_AddStringToObject(o, "host", host) == NULL || (req = cJSON_PrintUnformatted(o)) == NULL)
		goto out;
	snprintf(url, sizeof(url), "%s/dns-request-history", p->chall_mgmt_url);
	if (harness_fetch(&status, &body, NULL, "POST", url, NULL, req, 5000) != 0 || status != 200)
		goto out;
	hist = cJSON_Parse(body);
	cJSON_ArrayForEach(it, hist) {
		cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "Question");
		cJSON *t = cJSON_GetObjectItemCaseSensitive(q, "Qtype");
		if (cJSON_IsNumber(t) && t->valueint == 16)
			n++;
	}
	cJSON_AddStringToObject(o, "type", "dns");
	free(req);
	req = cJSON_PrintUnformatted(o);
	snprintf(url, sizeof(url), "%s/clear-request-history", p->chall_mgmt_url);
	if (req != NULL)
		(void)harness_fetch(&status, NULL, NULL, "POST", url, NULL, req, 5000);
out:
	cJSON_Delete(hist);
	cJSON_Delete(o);
	free(req);
	free(body);
	return n;
}

static int dns_present(void *ctx, const struct at_challenge *ch)
{
	struct responder *r = ctx;

	if (ch->type != AT_CHALLENGE_DNS_01 || ch->dns_txt_name == NULL || ch->dns_txt_value == NULL)
		return AT_E_INVAL;
	if (pebble_set_txt(r->pebble, ch->dns_txt_name, ch->dns_txt_value) != 0)
		return AT_E_NET;
	pthread_mutex_lock(&r->lock);
	r->presented++;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void dns_cleanup(void *ctx, const struct at_challenge *ch)
{
	struct responder *r = ctx;
	char host[256];

	if (ch->dns_txt_name == NULL)
		return;
	if (pebble_clear_txt(r->pebble, ch->dns_txt_name) != 0)
		fprintf(stderr, "responder: clearing the TXT record of %s failed\n", ch->dns_txt_name);
	snprintf(host, sizeof(host), "%s", ch->dns_txt_name);
	size_t n = strlen(host);
	if (n > 0 && host[n - 1] == '.')
		host[n - 1] = '\0';
	int q = dns_queries(r->pebble, host);
	pthread_mutex_lock(&r->lock);
	r->answered += q;
	pthread_mutex_unlock(&r->lock);
}

int responder_dns_start(struct responder **out, struct at_solver *solver, struct pebble *p)
{
	struct responder *r;

	if (p == NULL || (r = responder_new(AT_CHALLENGE_DNS_01)) == NULL)
		return -1;
	r->pebble = p;
	return started(r, solver, out, dns_present, dns_cleanup);
}
