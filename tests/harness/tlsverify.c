#include "tests/harness/tlsverify.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

int tls_verify_quiet;
char tls_client_last_error[256];

static int is_ip(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int set_verify_name(SSL *ssl, const char *name)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_ip(name))
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -1;
	return X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1 ? 0 : -1;
}

static void print_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	snprintf(tls_client_last_error, sizeof(tls_client_last_error), "%s", what);
	if (tls_verify_quiet) {
		ERR_clear_error();
		return;
	}
	fprintf(stderr, "  tls: %s\n", what);
	int first = 1;
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "    %s\n", buf);
		if (first)
			snprintf(tls_client_last_error, sizeof(tls_client_last_error), "%.60s: %.190s", what, buf);
		first = 0;
	}
}

int tls_verify_pair(const char *chain_pem, size_t chain_len, const char *key_pem, size_t key_len,
		    const char *root_file, const char *name)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *s = NULL, *c = NULL;
	BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
	BIO *cb = BIO_new_mem_buf(chain_pem, (int)chain_len);
	EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	X509 *leaf = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	int rc = -1;

	if (!sctx || !cctx || !key || !leaf) {
		print_errors("setup or PEM parse failed");
		goto out;
	}
	if (SSL_CTX_use_certificate(sctx, leaf) != 1 || SSL_CTX_use_PrivateKey(sctx, key) != 1 ||
	    SSL_CTX_check_private_key(sctx) != 1) {
		print_errors("server refused the certificate or key");
		goto out;
	}
	X509 *extra;
	while ((extra = PEM_read_bio_X509(cb, NULL, NULL, NULL)) != NULL)
		SSL_CTX_add0_chain_cert(sctx, extra);
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(cctx, root_file, NULL) != 1) {
		print_errors("cannot load the root");
		goto out;
	}
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	if (!s || !c || set_verify_name(c, name) != 0)
		goto out;
	if (!is_ip(name))
		SSL_set_tlsext_host_name(c, name);
	BIO *b1, *b2;
	if (BIO_new_bio_pair(&b1, 0, &b2, 0) != 1)
		goto out;
	SSL_set_bio(s, b1, b1);
	SSL_set_bio(c, b2, b2);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	int cdone = 0, sdone = 0;
	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone) {
			int r = SSL_do_handshake(c);
			if (r == 1)
				cdone = 1;
			else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
				break;
		}
		if (!sdone) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				sdone = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				break;
		}
	}
	long vr = SSL_get_verify_result(c);
	if (cdone && sdone && vr == X509_V_OK) {
		rc = 0;
	} else if (!tls_verify_quiet) {
		fprintf(stderr, "  tls: handshake for %s: client %s, server %s, verify: %s\n", name,
			cdone ? "done" : "failed", sdone ? "done" : "failed", X509_verify_cert_error_string(vr));
		print_errors("handshake");
	} else {
		ERR_clear_error();
	}
out:
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

static int alpn_wire(unsigned char *out, size_t size, const char *list)
{
	size_t o = 0;
	const char *p = list;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n > 255 || o + 1 + n > size)
			return -1;
		out[o++] = (unsigned char)n;
		memcpy(out + o, p, n);
		o += n;
		p += n + (comma ? 1 : 0);
	}
	return (int)o;
}

int tls_client_handshake_fd(int fd, const char *sni, const char *alpn, int version, const char *root_file,
			    const char *verify_name, struct tls_client_result *res, SSL **ssl_out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int rc = -1;

	if (ssl_out)
		*ssl_out = NULL;
	if (ctx == NULL)
		return -1;
	if (version) {
		SSL_CTX_set_min_proto_version(ctx, version);
		SSL_CTX_set_max_proto_version(ctx, version);
	}
	if (root_file) {
		if (SSL_CTX_load_verify_locations(ctx, root_file, NULL) != 1) {
			print_errors("cannot load the root");
			goto out;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL)
		goto out;
	if (sni)
		SSL_set_tlsext_host_name(ssl, sni);
	const char *vn = verify_name ? verify_name : sni;
	if (root_file && vn && set_verify_name(ssl, vn) != 0)
		goto out;
	if (alpn) {
		unsigned char wire[256];
		int n = alpn_wire(wire, sizeof(wire), alpn);
		if (n <= 0 || SSL_set_alpn_protos(ssl, wire, (unsigned)n) != 0)
			goto out;
	}
	SSL_set_fd(ssl, fd);
	int r = SSL_connect(ssl);
	long vr = SSL_get_verify_result(ssl);
	if (r == 1 && res) {
		memset(res, 0, sizeof(*res));
		X509 *peer = SSL_get1_peer_certificate(ssl);
		if (peer) {
			X509_NAME_oneline(X509_get_subject_name(peer), res->subject, sizeof(res->subject));
			X509_NAME_oneline(X509_get_issuer_name(peer), res->issuer, sizeof(res->issuer));
			BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(peer), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			if (hex)
				snprintf(res->serial, sizeof(res->serial), "%s", hex);
			OPENSSL_free(hex);
			BN_free(bn);
			struct tm na;
			if (ASN1_TIME_to_tm(X509_get0_notAfter(peer), &na) == 1)
				res->not_after = (long long)timegm(&na);
			ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
			int pos = oid ? X509_get_ext_by_OBJ(peer, oid, -1) : -1;
			res->acme_identifier = pos >= 0 && X509_EXTENSION_get_critical(X509_get_ext(peer, pos));
			ASN1_OBJECT_free(oid);
			X509_free(peer);
		}
		const unsigned char *ap;
		unsigned al;
		SSL_get0_alpn_selected(ssl, &ap, &al);
		if (ap != NULL && al < sizeof(res->alpn)) {
			memcpy(res->alpn, ap, al);
			res->alpn[al] = '\0';
		}
		snprintf(res->version, sizeof(res->version), "%s", SSL_get_version(ssl));
		res->verify_result = vr;
	}
	if (r == 1 && (root_file == NULL || vr == X509_V_OK)) {
		rc = 0;
		if (ssl_out) {
			*ssl_out = ssl; /* it holds its own reference to ctx */
			ssl = NULL;
		} else {
			SSL_shutdown(ssl);
		}
	} else if (r != 1) {
		print_errors("client handshake failed");
	} else {
		snprintf(tls_client_last_error, sizeof(tls_client_last_error), "verify failed: %.80s (subject %.140s)",
			 X509_verify_cert_error_string(vr), res ? res->subject : "?");
		fprintf(stderr, "  tls: %s\n", tls_client_last_error);
	}
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return rc;
}

int tls_client_connect(int port, const char *sni, const char *alpn, int version, const char *root_file,
		       const char *verify_name, struct tls_client_result *res)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(tls_client_last_error, sizeof(tls_client_last_error), "connect to 127.0.0.1:%d failed: %s",
			 port, strerror(errno));
		fprintf(stderr, "  tls: %s\n", tls_client_last_error);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rc = tls_client_handshake_fd(fd, sni, alpn, version, root_file, verify_name, res, NULL);
	close(fd);
	return rc;
}
