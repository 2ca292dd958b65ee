/*
 * The hostile CA (see hostile_ca.h).
 *
 * Threads: one acceptor polls both listeners and a wake-up pipe; each accepted 127.0.0.1 connection gets its own
 * detached thread (curl keeps one connection, but a drip left behind by a client that gave up must not hold up
 * the next case's connection). A connection thread serves keep-alive requests until the peer closes, an I/O
 * timeout, or stop; every wait (a read, a drip second) polls the wake-up pipe too, so hostile_ca_stop ends them at
 * once. Stop sets `stopping`, writes the pipe, joins the acceptor and waits for the connection count to reach 0.
 *
 * The order state (the last CSR's leaf) lives under the mutex; so do the mode and the counts. The server never
 * checks a JWS or a nonce: it is here to be wrong on purpose, not to be a CA.
 */
#include "tests/harness/hostile_ca.h"
#include "tests/harness/hostile_acme_internal.h"
#include "tests/harness/certgen.h"
#include "util/b64.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX (64 * 1024)
#define IO_TIMEOUT_MS 5000
#define HUGE_BYTES (50LL * 1000 * 1000)
#define MANY_AUTHZ 1000
#define LIFE_S (30L * 86400 + 3600) /* notBefore an hour back, notAfter 30 days ahead */

#define ORDER_RING 64 /* orders whose certificates stay downloadable; more than any test has in flight */

struct hostile_ca {
	pthread_mutex_t lock;
	pthread_cond_t idle;
	int nconn;                 /* connection threads alive */
	enum hostile_mode mode;
	unsigned generation;       /* bumped by set_mode: a drip from an earlier case stops */
	struct hostile_counts counts;
	long hold_ms;              /* HC_HOLD_PROCESSING */
	long hold_retry_after_s;   /* HC_HOLD_PROCESSING: the Retry-After of a held poll */
	long long finalized_ms;    /* monotonic ms of the mode's first finalize, 0 before */
	int authz_invalid;         /* HC_AUTHZ_FAILS: the current order's authorization failed */
	char *chain_pem;           /* the last good chain issued (leaf, CA) */
	/* Each order has its own URLs (/order/K, /finalize/K, /cert/K) and its chain is kept under K, so that
	 * orders placed at once (a sites file's workers) each download their own certificate. */
	unsigned order_seq;             /* the last K handed out by newOrder */
	char *order_chain[ORDER_RING];  /* order K's chain at [K % ORDER_RING]; NULL before its finalize */
	char *ocsp_url;            /* hostile_ca_set_ocsp: good leaves name this responder (AIA), NULL: none */
	char *ocsp_index;          /* and are written to this openssl-ca index as valid */
	EVP_PKEY *csr_key;         /* the last CSR's public key */
	int csr_must_staple;       /* the last CSR asked for TLS Feature status_request: OCSP leaves carry it */
	GENERAL_NAMES *csr_names;  /* the last CSR's SANs */
	struct hostile_acme *acme; /* ARI, profiles, order faults (hostile_acme.c): its own lock */

	X509 *ca;
	EVP_PKEY *ca_key;
	char *ca_pem;
	SSL_CTX *ctx;
	int fd, fd2;
	int port, port2;
	int wake[2];
	volatile int stopping;
	pthread_t acceptor;
	int acceptor_running;
	char base[64];             /* https://127.0.0.1:<port> */
	char dir_url[96];
	char ca_file[PATH_MAX];
};

struct conn {
	struct hostile_ca *h;
	int fd;
	SSL *ssl;
	char buf[REQ_MAX + 1];
	size_t have;
};

struct request {
	char method[8];
	char path[256];
	char *body;         /* points into conn->buf copy; NUL-terminated */
	size_t body_len;
};

static const char *const mode_names[HC_MODE_COUNT] = {
	[HC_GOOD] = "good",
	[HC_MALFORMED_JSON] = "malformed JSON order",
	[HC_HUGE_LENGTH] = "50 MB certificate, Content-Length",
	[HC_HUGE_CHUNKED] = "50 MB certificate, chunked",
	[HC_HUGE_CLOSE] = "50 MB certificate, until close",
	[HC_HTML_DIRECTORY] = "text/html directory",
	[HC_JSON_CERT] = "application/json certificate",
	[HC_REDIRECT] = "302 to 127.0.0.2",
	[HC_SLOW_DRIP] = "slow drip finalize",
	[HC_OTHER_NAMES] = "certificate for other names",
	[HC_OTHER_KEY] = "certificate for another key",
	[HC_CHAIN_GARBAGE] = "garbage intermediate",
	[HC_CHAIN_UNLINKED] = "unrelated intermediate",
	[HC_SELF_ISSUED] = "self-issued leaf, bad signature",
	[HC_ENDLESS_PROCESSING] = "endless processing",
	[HC_MANY_AUTHZ] = "1000 authorizations",
	[HC_HUGE_PROBLEM] = "100 KB problem detail",
	[HC_PROBLEM_CONTROL] = "20 KB problem detail, control characters",
	[HC_HOLD_PROCESSING] = "processing held",
	[HC_CLOCK_AHEAD] = "CA clock an hour ahead",
	[HC_AUTHZ_FAILS] = "validation always fails",
	[HC_RATE_LIMITED] = "newOrder rate limited",
};

const char *hostile_mode_name(enum hostile_mode mode)
{
	return mode >= 0 && mode < HC_MODE_COUNT && mode_names[mode] ? mode_names[mode] : "?";
}

/* ---- certificates ---- */

/*
 * A leaf for pub with the SANs sans (or one DNS name when dns is set), issued under issuer_name and signed with
 * signer. Returns a new X509 or NULL.
 */
static X509 *leaf_make(EVP_PKEY *pub, const GENERAL_NAMES *sans, const char *dns, X509 *issuer, EVP_PKEY *signer,
		       int self_issued, long nb_s, long life_s)
{
	X509 *x = X509_new();
	X509_NAME *subj = X509_NAME_new();
	unsigned char serial[12];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (x == NULL || subj == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL || !X509_set_version(x, 2) ||
	    X509_gmtime_adj(X509_getm_notBefore(x), nb_s) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), nb_s + life_s) == NULL ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)"hostile leaf", -1, -1, 0) ||
	    !X509_set_subject_name(x, subj) || !X509_set_issuer_name(x, self_issued ? subj : X509_get_subject_name(issuer)) ||
	    !X509_set_pubkey(x, pub))
		goto out;
	if (!self_issued) {
		/* The Authority Key Identifier, as every CA sets it: ARI's certID is made from it (RFC 9773 4.1). */
		X509V3_CTX v3;
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
		if (e == NULL || !X509_add_ext(x, e, -1)) {
			X509_EXTENSION_free(e);
			goto out;
		}
		X509_EXTENSION_free(e);
	}
	if (dns) {
		X509V3_CTX v3;
		char san[300];
		snprintf(san, sizeof(san), "DNS:%s", dns);
		X509V3_set_ctx_nodb(&v3);
		X509V3_set_ctx(&v3, NULL, x, NULL, NULL, 0);
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
		if (e == NULL || !X509_add_ext(x, e, -1)) {
			X509_EXTENSION_free(e);
			goto out;
		}
		X509_EXTENSION_free(e);
	} else if (sans == NULL || !X509_add1_ext_i2d(x, NID_subject_alt_name, (void *)sans, 0, X509V3_ADD_DEFAULT)) {
		goto out;
	}
	ok = X509_sign(x, signer, EVP_sha256()) > 0;
out:
	BN_free(bn);
	X509_NAME_free(subj);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* From a finalize JWS body: the CSR's public key and SANs, and whether it asks for TLS Feature (must-staple,
 * RFC 7633). 0 or -1. */
static int csr_from_jws(const char *body, size_t len, EVP_PKEY **key, GENERAL_NAMES **names, int *tls_feature)
{
	cJSON *jws = cJSON_ParseWithLength(body, len), *payload = NULL;
	unsigned char *pl = NULL, *der = NULL;
	size_t pl_len = 0, der_len = 0;
	X509_REQ *req = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	int ret = -1;

	const cJSON *p = cJSON_GetObjectItemCaseSensitive(jws, "payload");
	if (!cJSON_IsString(p) || at_b64url_decode(&pl, &pl_len, p->valuestring, strlen(p->valuestring)) != 0)
		goto out;
	payload = cJSON_ParseWithLength((const char *)pl, pl_len);
	const cJSON *csr = cJSON_GetObjectItemCaseSensitive(payload, "csr");
	if (!cJSON_IsString(csr) || at_b64url_decode(&der, &der_len, csr->valuestring, strlen(csr->valuestring)) != 0)
		goto out;
	const unsigned char *d = der;
	req = d2i_X509_REQ(NULL, &d, (long)der_len);
	if (req == NULL)
		goto out;
	exts = X509_REQ_get_extensions(req);
	*names = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	*key = X509_REQ_get_pubkey(req);
	*tls_feature = X509v3_get_ext_by_NID(exts, NID_tlsfeature, -1) >= 0;
	if (*names == NULL || *key == NULL) {
		GENERAL_NAMES_free(*names);
		EVP_PKEY_free(*key);
		goto out;
	}
	ret = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	free(der);
	free(pl);
	cJSON_Delete(payload);
	cJSON_Delete(jws);
	ERR_clear_error();
	return ret;
}

static int ocsp_leaf(struct hostile_ca *h, X509 *leaf);

/* The chain the certificate URL serves in mode m, built from the last CSR. New string or NULL. */
static char *chain_for_mode(struct hostile_ca *h, enum hostile_mode m)
{
	X509 *leaf = NULL, *other = NULL;
	EVP_PKEY *k = NULL, *ok = NULL;
	char *a = NULL, *b = NULL, *out = NULL;
	static const char garbage[] = "-----BEGIN CERTIFICATE-----\nTUlJQmdhcmJhZ2UhIG5vdCBhIGNlcnRpZmljYXRl\n"
				      "-----END CERTIFICATE-----\n";

	if (h->csr_key == NULL)
		return NULL;
	switch (m) {
	case HC_OTHER_NAMES:
		leaf = leaf_make(h->csr_key, NULL, "other.example.test", h->ca, h->ca_key, 0, -3600, LIFE_S);
		break;
	case HC_OTHER_KEY:
		k = EVP_EC_gen("P-256");
		leaf = k ? leaf_make(k, h->csr_names, NULL, h->ca, h->ca_key, 0, -3600, LIFE_S) : NULL;
		break;
	case HC_SELF_ISSUED:
		/* Issuer = subject, signed by a throwaway key: we cannot sign with the client's key. */
		k = EVP_EC_gen("P-256");
		leaf = k ? leaf_make(h->csr_key, h->csr_names, NULL, NULL, k, 1, -3600, LIFE_S) : NULL;
		break;
	case HC_CHAIN_UNLINKED:
		if (harness_cert_make(&other, &ok, "unrelated intermediate", NULL, NULL, 1, NULL, NULL, 30) != 0)
			goto out;
		/* fall through */
	default: {
		/* A CA an hour ahead backdates by a minute of its own clock: notBefore is 59 minutes ahead of ours. */
		long nb_s = 3600 - 60, life_s = LIFE_S;
		if (m != HC_CLOCK_AHEAD)
			hostile_acme_leaf_times(h->acme, &nb_s, &life_s);
		leaf = leaf_make(h->csr_key, h->csr_names, NULL, h->ca, h->ca_key, 0, nb_s, life_s);
		if (leaf != NULL && m == HC_GOOD && h->ocsp_url != NULL && ocsp_leaf(h, leaf) != 0) {
			X509_free(leaf);
			leaf = NULL;
		}
		if (leaf != NULL && m == HC_GOOD)
			hostile_acme_issued(h->acme, leaf);
		break;
	}
	}
	if (leaf == NULL || (a = harness_cert_pem(leaf, NULL)) == NULL)
		goto out;
	if (m == HC_SELF_ISSUED)
		b = strdup("");
	else if (m == HC_CHAIN_GARBAGE)
		b = strdup(garbage);
	else
		b = harness_cert_pem(other ? other : h->ca, NULL);
	if (b == NULL)
		goto out;
	size_t n = strlen(a) + strlen(b) + 1;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s%s", a, b);
out:
	free(a);
	free(b);
	X509_free(leaf);
	X509_free(other);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ok);
	return out;
}

/* ---- I/O ---- */

static int stale(struct conn *c, unsigned gen)
{
	struct hostile_ca *h = c->h;
	pthread_mutex_lock(&h->lock);
	int s = h->stopping || h->generation != gen;
	pthread_mutex_unlock(&h->lock);
	return s;
}

/* Waits until fd is readable (1), the wake-up pipe fired or ms passed (0), or an error (-1). */
static int wait_readable(struct hostile_ca *h, int fd, int ms)
{
	struct pollfd pf[2] = { { fd, POLLIN, 0 }, { h->wake[0], POLLIN, 0 } };
	int n = poll(pf, 2, ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	if (pf[1].revents || h->stopping)
		return -1;
	return pf[0].revents ? 1 : 0;
}

static int write_all(struct conn *c, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		int w = SSL_write(c->ssl, s, n > 65536 ? 65536 : (int)n);
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static void count_streamed(struct hostile_ca *h, long long n)
{
	pthread_mutex_lock(&h->lock);
	h->counts.streamed += n;
	pthread_mutex_unlock(&h->lock);
}

static void new_nonce(char *out, size_t size)
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 7, sizeof(r));
	size_t o = 0;
	for (size_t i = 0; i < sizeof(r) && o + 3 <= size; i++)
		o += (size_t)snprintf(out + o, size - o, "%02x", r[i]);
}

/* Writes the status line and headers (Replay-Nonce always). clen < 0: no Content-Length. */
static int send_head(struct conn *c, int status, const char *reason, const char *ctype, long long clen,
		     const char *extra)
{
	char head[1024], nonce[40], date[64];
	new_nonce(nonce, sizeof(nonce));
	pthread_mutex_lock(&c->h->lock);
	time_t t = time(NULL) + (c->h->mode == HC_CLOCK_AHEAD ? 3600 : 0);
	pthread_mutex_unlock(&c->h->lock);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nDate: %s\r\nReplay-Nonce: %s\r\nCache-Control: no-store\r\n%s%s%s", status,
			 reason, date, nonce, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "");
	if (clen >= 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %lld\r\n", clen);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n", extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	return write_all(c, head, (size_t)n);
}

static int send_body(struct conn *c, int status, const char *ctype, const char *extra, const char *body, size_t len)
{
	const char *reason = status == 200 ? "OK" : status == 201 ? "Created" : status == 302 ? "Found" :
			     status == 400 ? "Bad Request" : status == 404 ? "Not Found" : "Status";
	if (send_head(c, status, reason, ctype, (long long)len, extra) != 0)
		return -1;
	return len ? write_all(c, body, len) : 0;
}

/* 50 MB from one 64 KiB buffer, framed as asked. Returns -1: the connection is done either way. */
static int send_huge(struct conn *c, enum hostile_mode m, unsigned gen)
{
	static char chunk[65536];
	memset(chunk, 'A', sizeof(chunk));
	int rc;
	if (m == HC_HUGE_LENGTH)
		rc = send_head(c, 200, "OK", "application/pem-certificate-chain", HUGE_BYTES, NULL);
	else if (m == HC_HUGE_CHUNKED)
		rc = send_head(c, 200, "OK", "application/pem-certificate-chain", -1, "Transfer-Encoding: chunked\r\n");
	else
		rc = send_head(c, 200, "OK", "application/pem-certificate-chain", -1, "Connection: close\r\n");
	for (long long sent = 0; rc == 0 && sent < HUGE_BYTES && !stale(c, gen);) {
		size_t n = sizeof(chunk);
		if (m == HC_HUGE_CHUNKED) {
			char sz[32];
			int l = snprintf(sz, sizeof(sz), "%zx\r\n", n);
			rc = write_all(c, sz, (size_t)l);
			if (rc == 0)
				rc = write_all(c, chunk, n);
			if (rc == 0)
				rc = write_all(c, "\r\n", 2);
		} else {
			rc = write_all(c, chunk, n);
		}
		if (rc == 0) {
			sent += (long long)n;
			count_streamed(c->h, (long long)n);
		}
	}
	if (rc == 0 && m == HC_HUGE_CHUNKED)
		write_all(c, "0\r\n\r\n", 5);
	return -1;
}

/* Headers, then one byte a second until the peer goes, the mode changes or stop. */
static int send_drip(struct conn *c, unsigned gen)
{
	if (send_head(c, 200, "OK", "application/json", -1, "Connection: close\r\n") != 0)
		return -1;
	while (!stale(c, gen)) {
		if (write_all(c, " ", 1) != 0)
			return -1;
		count_streamed(c->h, 1);
		/* A second, unless the client closes (readable: EOF) or stop. */
		int r = wait_readable(c->h, c->fd, 1000);
		if (r != 0) {
			char b[64];
			if (r < 0 || recv(c->fd, b, sizeof(b), MSG_DONTWAIT | MSG_PEEK) == 0)
				return -1;
			/* Data from the client (none expected): keep dripping, but do not spin on it. */
			struct timespec ts = { 1, 0 };
			nanosleep(&ts, NULL);
		}
	}
	return -1;
}

/* ---- ACME ---- */

/* K from "/<what>/K" (K >= 1), or 0 when p is not such a path. */
static unsigned order_of(const char *p, const char *what)
{
	size_t n = strlen(what);
	if (strncmp(p, what, n) != 0 || p[n] < '1' || p[n] > '9')
		return 0;
	char *end;
	unsigned long k = strtoul(p + n, &end, 10);
	return *end == '\0' && k <= 0xffffffffUL ? (unsigned)k : 0;
}

static void url(char *out, size_t size, const struct hostile_ca *h, const char *path)
{
	snprintf(out, size, "%s%s", h->base, path);
}

static int reply_json(struct conn *c, int status, const char *json, const char *extra)
{
	return send_body(c, status, "application/json", extra, json, strlen(json));
}

static int on_new_order(struct conn *c, enum hostile_mode m, const struct request *rq)
{
	struct hostile_ca *h = c->h;
	char body[512], loc[200], fin[160], az[160], path[40];
	pthread_mutex_lock(&h->lock);
	unsigned k = ++h->order_seq;
	pthread_mutex_unlock(&h->lock);
	snprintf(path, sizeof(path), "/finalize/%u", k);
	url(fin, sizeof(fin), h, path);
	url(az, sizeof(az), h, "/authz/1");
	snprintf(loc, sizeof(loc), "Location: %s/order/%u\r\n", h->base, k);

	struct hostile_acme_reply r;
	if (hostile_acme_new_order(h->acme, rq->body, rq->body_len, &r))
		return send_body(c, r.status, r.ctype, r.extra, r.body, strlen(r.body));
	if (m == HC_MALFORMED_JSON) {
		snprintf(body, sizeof(body), "{\"status\":\"ready\",\"finalize\":\"%s\",\"authorizations\":[\"%s\",", fin, az);
		return reply_json(c, 201, body, loc);
	}
	if (m == HC_MANY_AUTHZ) {
		size_t cap = (size_t)MANY_AUTHZ * 64 + 512, o = 0;
		char *big = malloc(cap);
		if (big == NULL)
			return -1;
		o += (size_t)snprintf(big, cap, "{\"status\":\"ready\",\"finalize\":\"%s\",\"authorizations\":[", fin);
		for (int i = 0; i < MANY_AUTHZ; i++)
			o += (size_t)snprintf(big + o, cap - o, "%s\"%s/authz/%d\"", i ? "," : "", h->base, i + 1);
		snprintf(big + o, cap - o, "]}");
		int rc = reply_json(c, 201, big, loc);
		free(big);
		return rc;
	}
	if (m == HC_RATE_LIMITED) {
		/* RFC 8555 section 6.6: 429 with a rateLimited problem and a Retry-After (hold_retry_after_s). */
		char ra[48];
		static const char prob[] = "{\"type\":\"urn:ietf:params:acme:error:rateLimited\",\"status\":429,"
					   "\"detail\":\"too many new orders for this account\"}";
		snprintf(ra, sizeof(ra), "Retry-After: %ld\r\n", h->hold_retry_after_s);
		return send_body(c, 429, "application/problem+json", ra, prob, sizeof(prob) - 1);
	}
	if (m == HC_HUGE_PROBLEM || m == HC_PROBLEM_CONTROL) {
		/* A detail that would forge log lines and flood them: newlines, CR, ESC, BEL, NUL-free. */
		size_t dlen = m == HC_HUGE_PROBLEM ? 100 * 1024 : 20 * 1024;
		size_t cap = dlen * 7 + 256, o = 0;
		char *big = malloc(cap);
		if (big == NULL)
			return -1;
		o += (size_t)snprintf(big, cap, "{\"type\":\"urn:ietf:params:acme:error:serverInternal\",\"status\":400,"
						"\"detail\":\"HOSTILE-START");
		static const char piece[] = "\\nFORGED autotls[1] error: line\\r\\u001b[31m\\u0007\\t";
		for (size_t d = 0; d < dlen;) {
			o += (size_t)snprintf(big + o, cap - o, "%s", piece);
			d += 38; /* what the piece decodes to (51 bytes of JSON) */
		}
		o += (size_t)snprintf(big + o, cap - o, "HOSTILE-END\"}");
		int rc = send_body(c, 400, "application/problem+json", NULL, big, o);
		free(big);
		return rc;
	}
	if (m == HC_AUTHZ_FAILS) {
		pthread_mutex_lock(&h->lock);
		h->authz_invalid = 0;
		pthread_mutex_unlock(&h->lock);
		snprintf(body, sizeof(body), "{\"status\":\"pending\",\"finalize\":\"%s\",\"authorizations\":[\"%s\"]}",
			 fin, az);
		return reply_json(c, 201, body, loc);
	}
	snprintf(body, sizeof(body), "{\"status\":\"ready\",\"finalize\":\"%s\",\"authorizations\":[\"%s\"]}", fin, az);
	return reply_json(c, 201, body, loc);
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* HC_AUTHZ_FAILS: the authorization, pending with three challenges until one is answered, then invalid. */
static int on_authz(struct conn *c, enum hostile_mode m)
{
	struct hostile_ca *h = c->h;
	if (m != HC_AUTHZ_FAILS)
		return reply_json(c, 200, "{\"status\":\"valid\",\"identifier\":{\"type\":\"dns\",\"value\":\"x.test\"}}", NULL);
	pthread_mutex_lock(&h->lock);
	int invalid = h->authz_invalid;
	pthread_mutex_unlock(&h->lock);
	char body[2048];
	static const char *const types[] = { "http-01", "dns-01", "tls-alpn-01" };
	size_t o = (size_t)snprintf(body, sizeof(body),
				    "{\"status\":\"%s\",\"identifier\":{\"type\":\"dns\",\"value\":\"fails.hostile.test\"},"
				    "\"challenges\":[", invalid ? "invalid" : "pending");
	for (int i = 0; i < 3; i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o,
				      "%s{\"type\":\"%s\",\"url\":\"%s/chall/%d\",\"token\":\"tokentokentokentoken%d\",\"status\":\"%s\"%s}",
				      i ? "," : "", types[i], h->base, i, i, invalid ? "invalid" : "pending",
				      invalid ? ",\"error\":{\"type\":\"urn:ietf:params:acme:error:unauthorized\","
						"\"detail\":\"the validation failed\"}" : "");
	snprintf(body + o, sizeof(body) - o, "]}");
	return reply_json(c, 200, body, NULL);
}

static int on_finalize(struct conn *c, enum hostile_mode m, const struct request *rq, unsigned gen, unsigned k)
{
	struct hostile_ca *h = c->h;
	EVP_PKEY *key = NULL;
	GENERAL_NAMES *names = NULL;
	char body[512], fin[160], path[40];

	if (m == HC_SLOW_DRIP)
		return send_drip(c, gen);
	int tls_feature = 0;
	if (csr_from_jws(rq->body, rq->body_len, &key, &names, &tls_feature) != 0)
		return send_body(c, 400, "application/problem+json", NULL,
				 "{\"type\":\"urn:ietf:params:acme:error:badCSR\"}", 44);
	pthread_mutex_lock(&h->lock);
	EVP_PKEY_free(h->csr_key);
	GENERAL_NAMES_free(h->csr_names);
	h->csr_key = key;
	h->csr_names = names;
	h->csr_must_staple = tls_feature;
	free(h->chain_pem);
	h->chain_pem = chain_for_mode(h, m);
	free(h->order_chain[k % ORDER_RING]);
	h->order_chain[k % ORDER_RING] = h->chain_pem ? strdup(h->chain_pem) : NULL;
	h->counts.issued++;
	if (h->finalized_ms == 0)
		h->finalized_ms = mono_ms();
	pthread_mutex_unlock(&h->lock);
	snprintf(path, sizeof(path), "/finalize/%u", k);
	url(fin, sizeof(fin), h, path);
	snprintf(body, sizeof(body), "{\"status\":\"processing\",\"finalize\":\"%s\"}", fin);
	return reply_json(c, 200, body, "Retry-After: 0\r\n");
}

static int on_order_poll(struct conn *c, enum hostile_mode m, unsigned k)
{
	char body[512], cert[160], fin[160], path[40];
	snprintf(path, sizeof(path), "/finalize/%u", k);
	url(fin, sizeof(fin), c->h, path);
	snprintf(path, sizeof(path), "/cert/%u", k);
	url(cert, sizeof(cert), c->h, path);
	int held = 0, invalid = 0;
	char ra[48];
	pthread_mutex_lock(&c->h->lock);
	snprintf(ra, sizeof(ra), "Retry-After: %ld\r\n", c->h->hold_retry_after_s);
	if (m == HC_HOLD_PROCESSING)
		held = c->h->finalized_ms == 0 || mono_ms() - c->h->finalized_ms < c->h->hold_ms;
	invalid = m == HC_AUTHZ_FAILS && c->h->authz_invalid;
	pthread_mutex_unlock(&c->h->lock);
	if (m == HC_AUTHZ_FAILS)
		snprintf(body, sizeof(body), "{\"status\":\"%s\",\"finalize\":\"%s\",\"authorizations\":[\"%s/authz/1\"]}",
			 invalid ? "invalid" : "pending", fin, c->h->base);
	else if (m == HC_HOLD_PROCESSING && held)
		return reply_json(c, 200, "{\"status\":\"processing\"}", ra);
	else if (m == HC_ENDLESS_PROCESSING)
		snprintf(body, sizeof(body), "{\"status\":\"processing\",\"finalize\":\"%s\"}", fin);
	else
		snprintf(body, sizeof(body), "{\"status\":\"valid\",\"finalize\":\"%s\",\"certificate\":\"%s\"}", fin, cert);
	return reply_json(c, 200, body, "Retry-After: 0\r\n");
}

static int on_cert(struct conn *c, enum hostile_mode m, unsigned gen, unsigned k)
{
	struct hostile_ca *h = c->h;
	if (m == HC_HUGE_LENGTH || m == HC_HUGE_CHUNKED || m == HC_HUGE_CLOSE)
		return send_huge(c, m, gen);
	if (m == HC_REDIRECT) {
		char loc[200];
		snprintf(loc, sizeof(loc), "Location: https://127.0.0.2:%d/cert/%u\r\n", h->port2, k);
		return send_body(c, 302, "text/plain", loc, "moved\n", 6);
	}
	pthread_mutex_lock(&h->lock);
	/* This order's own chain; the last one issued for an order the ring has forgotten. */
	const char *own = h->order_chain[k % ORDER_RING] ? h->order_chain[k % ORDER_RING] : h->chain_pem;
	char *chain = own ? strdup(own) : NULL;
	pthread_mutex_unlock(&h->lock);
	if (chain == NULL)
		return send_body(c, 404, "application/problem+json", NULL,
				 "{\"type\":\"urn:ietf:params:acme:error:malformed\"}", 46);
	int rc = send_body(c, 200, m == HC_JSON_CERT ? "application/json" : "application/pem-certificate-chain",
			   NULL, chain, strlen(chain));
	free(chain);
	return rc;
}

/* Serves one request. 0: keep the connection; -1: close it. */
static int serve(struct conn *c, const struct request *rq)
{
	struct hostile_ca *h = c->h;
	pthread_mutex_lock(&h->lock);
	enum hostile_mode m = h->mode;
	unsigned gen = h->generation;
	int *counter = &h->counts.other;
	const char *p = rq->path;
	if (strcmp(p, "/dir") == 0)
		counter = &h->counts.directory;
	else if (strcmp(p, "/nonce") == 0)
		counter = &h->counts.nonce;
	else if (strcmp(p, "/acct") == 0)
		counter = &h->counts.account;
	else if (strcmp(p, "/order") == 0)
		counter = &h->counts.new_order;
	else if (strncmp(p, "/authz/", 7) == 0)
		counter = &h->counts.authz;
	else if (order_of(p, "/finalize/"))
		counter = &h->counts.finalize;
	else if (order_of(p, "/order/"))
		counter = &h->counts.order_polls;
	else if (order_of(p, "/cert/"))
		counter = &h->counts.cert;
	else if (strncmp(p, "/chall/", 7) == 0)
		counter = &h->counts.challenges;
	(*counter)++;
	pthread_mutex_unlock(&h->lock);

	if (strcmp(p, "/dir") == 0) {
		if (m == HC_HTML_DIRECTORY) {
			static const char html[] = "<!DOCTYPE html><html><head><title>Sign in</title></head>"
						   "<body><p>Please sign in to the network.</p></body></html>\n";
			return send_body(c, 200, "text/html; charset=utf-8", NULL, html, sizeof(html) - 1);
		}
		char body[1024];
		hostile_acme_directory(h->acme, h->base, body, sizeof(body));
		return reply_json(c, 200, body, NULL);
	}
	if (strcmp(p, "/nonce") == 0)
		return send_body(c, strcmp(rq->method, "HEAD") == 0 ? 200 : 204, NULL, NULL, NULL, 0);
	if (strncmp(p, "/renewalInfo/", 13) == 0 && strcmp(rq->method, "GET") == 0) {
		struct hostile_acme_reply r;
		hostile_acme_renewal_info(h->acme, p + 13, &r);
		return send_body(c, r.status, r.ctype, r.extra, r.body, strlen(r.body));
	}
	if (strcmp(rq->method, "POST") != 0)
		return send_body(c, 404, "text/plain", NULL, "no\n", 3);
	if (strcmp(p, "/acct") == 0) {
		char loc[160];
		snprintf(loc, sizeof(loc), "Location: %s/acct/1\r\n", h->base);
		return reply_json(c, 200, "{\"status\":\"valid\"}", loc);
	}
	if (strcmp(p, "/order") == 0)
		return on_new_order(c, m, rq);
	if (strncmp(p, "/authz/", 7) == 0)
		return on_authz(c, m);
	if (strncmp(p, "/chall/", 7) == 0) {
		/* Answered: the validation fails at once (what a firewall in front of port 80 looks like). */
		pthread_mutex_lock(&h->lock);
		if (!h->authz_invalid)
			h->counts.authz_failed++;
		h->authz_invalid = 1;
		pthread_mutex_unlock(&h->lock);
		return reply_json(c, 200, "{\"status\":\"processing\"}", NULL);
	}
	if (order_of(p, "/finalize/"))
		return on_finalize(c, m, rq, gen, order_of(p, "/finalize/"));
	if (order_of(p, "/order/"))
		return on_order_poll(c, m, order_of(p, "/order/"));
	if (order_of(p, "/cert/"))
		return on_cert(c, m, gen, order_of(p, "/cert/"));
	return send_body(c, 404, "text/plain", NULL, "no\n", 3);
}

/* Reads one request into rq. 0, or -1 (closed, timeout, too big, stop). */
static int read_request(struct conn *c, struct request *rq)
{
	char *end = NULL;
	for (;;) {
		c->buf[c->have] = '\0';
		end = strstr(c->buf, "\r\n\r\n");
		if (end)
			break;
		if (c->have >= REQ_MAX)
			return -1;
		if (SSL_pending(c->ssl) == 0 && wait_readable(c->h, c->fd, IO_TIMEOUT_MS) != 1)
			return -1;
		int n = SSL_read(c->ssl, c->buf + c->have, (int)(REQ_MAX - c->have));
		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
	size_t head = (size_t)(end - c->buf) + 4;
	memset(rq, 0, sizeof(*rq));
	if (sscanf(c->buf, "%7s %255s", rq->method, rq->path) != 2)
		return -1;
	size_t clen = 0;
	for (char *l = strstr(c->buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
			clen = strtoul(l + 17, NULL, 10);
	if (head + clen > REQ_MAX)
		return -1;
	while (c->have < head + clen) {
		if (SSL_pending(c->ssl) == 0 && wait_readable(c->h, c->fd, IO_TIMEOUT_MS) != 1)
			return -1;
		int n = SSL_read(c->ssl, c->buf + c->have, (int)(REQ_MAX - c->have));
		if (n <= 0)
			return -1;
		c->have += (size_t)n;
	}
	rq->body = malloc(clen + 1);
	if (rq->body == NULL)
		return -1;
	memcpy(rq->body, c->buf + head, clen);
	rq->body[clen] = '\0';
	rq->body_len = clen;
	memmove(c->buf, c->buf + head + clen, c->have - head - clen);
	c->have -= head + clen;
	return 0;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct hostile_ca *h = c->h;
	c->ssl = SSL_new(h->ctx);
	if (c->ssl && SSL_set_fd(c->ssl, c->fd) == 1 && SSL_accept(c->ssl) == 1) {
		struct request rq;
		while (!h->stopping && read_request(c, &rq) == 0) {
			int rc = serve(c, &rq);
			free(rq.body);
			if (rc != 0)
				break;
		}
		SSL_shutdown(c->ssl);
	}
	ERR_clear_error();
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
	pthread_mutex_lock(&h->lock);
	if (--h->nconn == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct hostile_ca *h = arg;
	while (!h->stopping) {
		struct pollfd pf[3] = { { h->fd, POLLIN, 0 }, { h->fd2, POLLIN, 0 }, { h->wake[0], POLLIN, 0 } };
		int n = poll(pf, 3, 1000);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (pf[2].revents)
			break;
		if (pf[1].revents & POLLIN) {
			/* The redirect target: count and hang up. A client that follows the redirect fails here. */
			int fd = accept4(h->fd2, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				pthread_mutex_lock(&h->lock);
				h->counts.redirect_target++;
				pthread_mutex_unlock(&h->lock);
				close(fd);
			}
		}
		if (!(pf[0].revents & POLLIN))
			continue;
		int fd = accept4(h->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct timeval tv = { IO_TIMEOUT_MS / 1000, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		struct conn *c = calloc(1, sizeof(*c));
		pthread_t t;
		pthread_attr_t attr;
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->h = h;
		c->fd = fd;
		pthread_mutex_lock(&h->lock);
		h->nconn++;
		h->counts.connections++;
		pthread_mutex_unlock(&h->lock);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			close(fd);
			free(c);
			pthread_mutex_lock(&h->lock);
			h->nconn--;
			pthread_mutex_unlock(&h->lock);
		}
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

/* ---- life cycle ---- */

static int listen_any(const char *ip, int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "hostile_ca: cannot listen on %s: %s\n", ip, strerror(errno));
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static SSL_CTX *server_ctx(struct hostile_ca *h, const char *ip)
{
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL || harness_cert_make(&leaf, &key, "hostile CA listener", NULL, ip, 0, h->ca, h->ca_key, 30) != 0 ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	X509_free(leaf);
	EVP_PKEY_free(key);
	return ctx;
}

int hostile_ca_start(struct hostile_ca **out, const char *workdir)
{
	struct hostile_ca *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -1;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->idle, NULL);
	h->hold_ms = 3000;
	h->hold_retry_after_s = 1;
	h->fd = h->fd2 = -1;
	h->wake[0] = h->wake[1] = -1;
	if ((h->acme = hostile_acme_new()) == NULL) {
		free(h);
		return -1;
	}
	{
		struct sigaction old;
		if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
			signal(SIGPIPE, SIG_IGN);
	}
	snprintf(h->ca_file, sizeof(h->ca_file), "%s/hostile-ca.pem", workdir);
	if (harness_cert_make(&h->ca, &h->ca_key, "libautotls hostile test CA", NULL, NULL, 1, NULL, NULL, 30) != 0 ||
	    harness_write_cert_pem(h->ca_file, h->ca) != 0 || (h->ca_pem = harness_cert_pem(h->ca, NULL)) == NULL)
		goto fail;
	h->ctx = server_ctx(h, "127.0.0.1");
	h->fd = listen_any("127.0.0.1", &h->port);
	h->fd2 = listen_any("127.0.0.2", &h->port2);
	if (h->ctx == NULL || h->fd < 0 || h->fd2 < 0 || pipe2(h->wake, O_CLOEXEC) != 0)
		goto fail;
	snprintf(h->base, sizeof(h->base), "https://127.0.0.1:%d", h->port);
	snprintf(h->dir_url, sizeof(h->dir_url), "%s/dir", h->base);
	if (pthread_create(&h->acceptor, NULL, acceptor_main, h) != 0)
		goto fail;
	h->acceptor_running = 1;
	*out = h;
	return 0;
fail:
	hostile_ca_stop(h);
	return -1;
}

const char *hostile_ca_directory_url(const struct hostile_ca *h)
{
	return h->dir_url;
}

const char *hostile_ca_ca_file(const struct hostile_ca *h)
{
	return h->ca_file;
}

void hostile_ca_set_mode(struct hostile_ca *h, enum hostile_mode mode)
{
	pthread_mutex_lock(&h->lock);
	h->mode = mode;
	h->generation++;
	h->finalized_ms = 0;
	h->authz_invalid = 0;
	memset(&h->counts, 0, sizeof(h->counts));
	pthread_mutex_unlock(&h->lock);
}

void hostile_ca_set_hold_ms(struct hostile_ca *h, long ms)
{
	pthread_mutex_lock(&h->lock);
	h->hold_ms = ms;
	pthread_mutex_unlock(&h->lock);
}

void hostile_ca_set_hold_retry_after(struct hostile_ca *h, long s)
{
	pthread_mutex_lock(&h->lock);
	h->hold_retry_after_s = s;
	pthread_mutex_unlock(&h->lock);
}

struct hostile_acme *hostile_ca_acme(struct hostile_ca *h)
{
	return h->acme;
}

void hostile_ca_counts(struct hostile_ca *h, struct hostile_counts *out)
{
	pthread_mutex_lock(&h->lock);
	*out = h->counts;
	pthread_mutex_unlock(&h->lock);
}

void hostile_ca_stop(struct hostile_ca *h)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = 1;
	pthread_mutex_unlock(&h->lock);
	if (h->wake[1] >= 0) {
		char ch = 'x';
		while (write(h->wake[1], &ch, 1) < 0 && errno == EINTR)
			;
	}
	if (h->acceptor_running)
		pthread_join(h->acceptor, NULL);
	pthread_mutex_lock(&h->lock);
	while (h->nconn > 0)
		pthread_cond_wait(&h->idle, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (h->fd >= 0)
		close(h->fd);
	if (h->fd2 >= 0)
		close(h->fd2);
	for (int i = 0; i < 2; i++)
		if (h->wake[i] >= 0)
			close(h->wake[i]);
	SSL_CTX_free(h->ctx);
	X509_free(h->ca);
	EVP_PKEY_free(h->ca_key);
	EVP_PKEY_free(h->csr_key);
	GENERAL_NAMES_free(h->csr_names);
	free(h->ca_pem);
	free(h->chain_pem);
	for (size_t i = 0; i < ORDER_RING; i++)
		free(h->order_chain[i]);
	hostile_acme_free(h->acme);
	free(h->ocsp_url);
	free(h->ocsp_index);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---- OCSP (hostile_ca_set_ocsp) ---- */

/* Adds the responder to a good leaf (AIA id-ad-ocsp), signs it again, and writes it to the index as valid. Under
 * h->lock. 0 or -1. */
static int ocsp_leaf(struct hostile_ca *h, X509 *leaf)
{
	X509V3_CTX v3;
	char aia[300];
	snprintf(aia, sizeof(aia), "OCSP;URI:%s", h->ocsp_url);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, h->ca, leaf, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_info_access, aia);
	int ok = e != NULL && X509_add_ext(leaf, e, -1);
	X509_EXTENSION_free(e);
	if (ok && h->csr_must_staple) {
		/* As a CA that honours the request: the TLS Feature the CSR asked for (RFC 7633 section 4.2.2). */
		e = X509V3_EXT_conf_nid(NULL, &v3, NID_tlsfeature, "status_request");
		ok = e != NULL && X509_add_ext(leaf, e, -1);
		X509_EXTENSION_free(e);
	}
	ok = ok && X509_sign(leaf, h->ca_key, EVP_sha256()) > 0;
	BIGNUM *bn = ok ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	FILE *f = hex ? fopen(h->ocsp_index, "a") : NULL;
	/* openssl ca's index: status, expiry (UTCTime), revocation, serial (BN_bn2hex, as the responder looks it up),
	 * file, subject. */
	ok = f != NULL && fprintf(f, "V\t%.*s\t\t%s\tunknown\t/CN=hostile leaf\n", na->length, (const char *)na->data, hex) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	OPENSSL_free(hex);
	BN_free(bn);
	return ok ? 0 : -1;
}

int hostile_ca_set_ocsp(struct hostile_ca *h, const char *url, const char *index_path)
{
	char *u = strdup(url), *i = strdup(index_path);
	FILE *f = i ? fopen(i, "a") : NULL;
	if (u == NULL || f == NULL) {
		free(u);
		free(i);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	pthread_mutex_lock(&h->lock);
	free(h->ocsp_url);
	free(h->ocsp_index);
	h->ocsp_url = u;
	h->ocsp_index = i;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int hostile_ca_write_key(const struct hostile_ca *h, const char *path)
{
	return harness_write_key_pem(path, h->ca_key);
}
