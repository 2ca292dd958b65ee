/*
 * The finalize CSR (RFC 8555 section 7.4): an empty subject and every name in one subjectAltName extension,
 * dNSName for DNS identifiers and iPAddress for IP identifiers (RFC 8738 section 4), signed with SHA-256.
 */
#include "acme/csr.h"
#include "acme/san.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

/* Let's Encrypt accepts 100 names per certificate; more would be rejected by any CA we know. */
#define MAX_NAMES 100

int at_name_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (s == NULL)
		return 0;
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int at_csr_make(unsigned char **der, size_t *len, EVP_PKEY *key, const char *const *names, size_t nnames)
{
	return at_csr_make_ex(der, len, key, names, nnames, 0);
}

/* The TLS Feature extension with status_request (RFC 7633 section 4: a SEQUENCE of the TLS extension numbers the
 * certificate requires; status_request is 5, RFC 6066 section 8), into exts. 0 or AT_E_CRYPTO. */
static int add_must_staple(STACK_OF(X509_EXTENSION) **exts)
{
	TLS_FEATURE *f = TLS_FEATURE_new();
	ASN1_INTEGER *n = ASN1_INTEGER_new();
	int ok = f != NULL && n != NULL && ASN1_INTEGER_set(n, 5) == 1 && sk_ASN1_INTEGER_push(f, n) > 0;
	if (ok)
		n = NULL; /* the stack has it */
	/* Not critical: RFC 7633 section 4.1 leaves it to the CA, and CAs issue it non-critical. */
	ok = ok && X509V3_add1_i2d(exts, NID_tlsfeature, f, 0, X509V3_ADD_DEFAULT) == 1;
	ASN1_INTEGER_free(n);
	TLS_FEATURE_free(f);
	return ok ? 0 : AT_E_CRYPTO;
}

int at_csr_make_ex(unsigned char **der, size_t *len, EVP_PKEY *key, const char *const *names, size_t nnames,
		   int must_staple)
{
	X509_REQ *req = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *buf = NULL;
	unsigned char *p;
	int n;
	int rc = AT_E_CRYPTO;

	if (der == NULL || len == NULL || key == NULL || names == NULL || nnames == 0 || nnames > MAX_NAMES)
		return AT_E_INVAL;
	rc = at_san_names(&gens, names, nnames);
	if (rc != 0)
		goto out;
	rc = AT_E_CRYPTO;

	req = X509_REQ_new();
	if (req == NULL)
		goto out;
	/* PKCS#10 version 1 is encoded as 0. The subject stays an empty SEQUENCE: no Common Name (see csr.h). */
	if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_pubkey(req, key))
		goto out;
	/*
	 * Critical, because the subject is empty (RFC 5280 section 4.2.1.6); the CA builds the certificate's own
	 * extension, but a CSR that would make a valid certificate as-is is the least surprising one to send.
	 */
	if (X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 1, X509V3_ADD_DEFAULT) != 1)
		goto out;
	if (must_staple && add_must_staple(&exts) != 0)
		goto out;
	if (!X509_REQ_add_extensions(req, exts))
		goto out;
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto out;
	n = i2d_X509_REQ(req, NULL);
	if (n <= 0)
		goto out;
	buf = malloc((size_t)n);
	if (buf == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	p = buf;
	if (i2d_X509_REQ(req, &p) != n)
		goto out;
	*der = buf;
	*len = (size_t)n;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_REQ_free(req);
	if (rc == AT_E_CRYPTO)
		ERR_clear_error();
	return rc;
}
