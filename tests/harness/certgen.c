/* Throwaway test certificates (see certgen.h). */
#include "tests/harness/certgen.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

EVP_PKEY *harness_key_p256(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	if (k == NULL)
		fprintf(stderr, "  certgen: key generation failed\n");
	return k;
}

X509 *harness_cert_sign(EVP_PKEY *key, const char *cn, const char *san, long not_before_s, long not_after_s,
			int is_ca, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *cert = NULL;
	BIGNUM *bn = NULL;
	X509_NAME *name;
	int ok = 0;

	if ((issuer == NULL) != (issuer_key == NULL) || cn == NULL || key == NULL)
		goto out;
	cert = X509_new();
	bn = BN_new();
	if (cert == NULL || bn == NULL)
		goto out;
	if (!X509_set_version(cert, 2) || !BN_rand(bn, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		goto out;
	if (X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s) == NULL)
		goto out;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) || !X509_set_pubkey(cert, key))
		goto out;

	/* With no issuer the certificate is its own: X509V3_set_ctx then takes cert for both. */
	if (add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(cert, issuer ? issuer : cert, NID_authority_key_identifier, "keyid:always") != 0)
		goto out;
	if (is_ca) {
		if (add_ext(cert, issuer, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
		    add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign") != 0)
			goto out;
	} else {
		if (add_ext(cert, issuer, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
		    add_ext(cert, issuer, NID_key_usage, "critical,digitalSignature") != 0 ||
		    add_ext(cert, issuer, NID_ext_key_usage, "serverAuth") != 0)
			goto out;
	}
	if (san != NULL && add_ext(cert, issuer, NID_subject_alt_name, san) != 0)
		goto out;
	ok = X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
out:
	BN_free(bn);
	if (!ok) {
		fprintf(stderr, "  certgen: certificate for %s failed\n", cn ? cn : "(no name)");
		X509_free(cert);
		cert = NULL;
	}
	return cert;
}

int harness_cert_make(X509 **cert_out, EVP_PKEY **key_out, const char *cn, const char *dns, const char *ip,
		      int is_ca, X509 *issuer, EVP_PKEY *issuer_key, int days)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	char san[512];
	int n;

	if ((issuer == NULL) != (issuer_key == NULL) || cn == NULL)
		return -1;
	n = snprintf(san, sizeof(san), "%s%s%s%s%s", dns ? "DNS:" : "", dns ? dns : "", (dns && ip) ? "," : "",
		     ip ? "IP:" : "", ip ? ip : "");
	if (n < 0 || (size_t)n >= sizeof(san))
		return -1;
	key = harness_key_p256();
	if (key != NULL)
		cert = harness_cert_sign(key, cn, n > 0 ? san : NULL, -3600, (long)days * 86400, is_ca, issuer,
					 issuer_key);
	if (cert == NULL) {
		EVP_PKEY_free(key);
		return -1;
	}
	*cert_out = cert;
	*key_out = key;
	return 0;
}

char *harness_bio_text(BIO *bio, size_t *len)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);
	char *out = n >= 0 ? malloc((size_t)n + 1) : NULL;

	if (out != NULL) {
		memcpy(out, p, (size_t)n);
		out[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return out;
}

char *harness_key_pem(EVP_PKEY *key, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (bio && key && PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL))
		out = harness_bio_text(bio, len);
	BIO_free(bio);
	return out;
}

char *harness_cert_pem(X509 *cert, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *out = NULL;

	if (bio && cert && PEM_write_bio_X509(bio, cert))
		out = harness_bio_text(bio, len);
	BIO_free(bio);
	return out;
}

int harness_self_signed_pem(char **key_pem, size_t *key_len, char **cert_pem, size_t *cert_len, const char *san)
{
	EVP_PKEY *k = harness_key_p256();
	X509 *x = k ? harness_cert_sign(k, "leaf", san, -60, 86400, 0, NULL, NULL) : NULL;

	*key_pem = x ? harness_key_pem(k, key_len) : NULL;
	*cert_pem = x ? harness_cert_pem(x, cert_len) : NULL;
	X509_free(x);
	EVP_PKEY_free(k);
	if (*key_pem != NULL && *cert_pem != NULL)
		return 0;
	free(*key_pem);
	free(*cert_pem);
	*key_pem = *cert_pem = NULL;
	return -1;
}

static int write_pem(const char *path, int flags, mode_t mode, X509 *cert, EVP_PKEY *key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, mode);
	FILE *f;
	int ok;

	if (fd < 0)
		return -1;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return -1;
	}
	ok = cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

int harness_write_cert_pem(const char *path, X509 *cert)
{
	return write_pem(path, O_TRUNC, 0644, cert, NULL);
}

int harness_write_key_pem(const char *path, EVP_PKEY *key)
{
	return write_pem(path, O_EXCL, 0600, NULL, key);
}

int harness_leaf_chain_pem(char **chain, size_t *chain_len, char **key, size_t *key_len, const char *name,
			   X509 *inter, EVP_PKEY *inter_key, int days)
{
	X509 *leaf = NULL;
	EVP_PKEY *k = NULL;
	if (harness_cert_make(&leaf, &k, name, name, NULL, 0, inter, inter_key, days) != 0)
		return -1;
	size_t l1 = 0, l2 = 0, kl = 0;
	char *p1 = harness_cert_pem(leaf, &l1), *p2 = harness_cert_pem(inter, &l2), *kp = harness_key_pem(k, &kl);
	char *c = malloc(l1 + l2 + 1);
	int rc = -1;
	if (p1 && p2 && kp && c) {
		memcpy(c, p1, l1);
		memcpy(c + l1, p2, l2);
		c[l1 + l2] = '\0';
		*chain = c;
		*chain_len = l1 + l2;
		*key = kp;
		*key_len = kl;
		c = kp = NULL;
		rc = 0;
	}
	free(p1);
	free(p2);
	free(c);
	if (kp) {
		OPENSSL_cleanse(kp, kl);
		free(kp);
	}
	X509_free(leaf);
	EVP_PKEY_free(k);
	return rc;
}
