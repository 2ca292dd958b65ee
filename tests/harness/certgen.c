/* Throwaway test certificates (see certgen.h). */
#include "tests/harness/certgen.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
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

int harness_cert_rsa_bits;

int harness_cert_make(X509 **cert_out, EVP_PKEY **key_out, const char *cn, const char *dns, const char *ip,
		      int is_ca, X509 *issuer, EVP_PKEY *issuer_key, int days)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIGNUM *bn = NULL;
	X509_NAME *name = NULL;
	char san[512];
	int ret = -1;

	if ((issuer == NULL) != (issuer_key == NULL) || cn == NULL)
		return -1;
	key = harness_cert_rsa_bits > 0 ? EVP_RSA_gen((unsigned)harness_cert_rsa_bits) : EVP_EC_gen("P-256");
	cert = X509_new();
	bn = BN_new();
	if (key == NULL || cert == NULL || bn == NULL)
		goto out;
	if (!X509_set_version(cert, 2) || !BN_rand(bn, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL)
		goto out;
	if (X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL)
		goto out;
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_set_pubkey(cert, key))
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
	if (dns != NULL || ip != NULL) {
		int n = snprintf(san, sizeof(san), "%s%s%s%s%s", dns ? "DNS:" : "", dns ? dns : "",
				 (dns && ip) ? "," : "", ip ? "IP:" : "", ip ? ip : "");
		if (n < 0 || (size_t)n >= sizeof(san) || add_ext(cert, issuer, NID_subject_alt_name, san) != 0)
			goto out;
	}
	if (!X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()))
		goto out;
	*cert_out = cert;
	*key_out = key;
	cert = NULL;
	key = NULL;
	ret = 0;
out:
	BN_free(bn);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
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
