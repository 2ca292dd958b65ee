/*
 * What each challenge type derives from the key authorization (RFC 8555 section 8.4, RFC 8737 section 3,
 * RFC 8738 section 6). Pure functions of their inputs apart from the fresh TLS-ALPN-01 key and serial.
 */
#include "acme/challenge_data.h"
#include "acme/san.h"
#include "util/b64.h"
#include "util/err.h"
#include "util/keys.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* id-pe-acmeIdentifier (RFC 8737 section 6.1). */
#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"

/* The validator accepts certificates already valid; an hour back absorbs clock skew, a week covers any retry. */
#define ALPN_CERT_BACKDATE (60L * 60)
#define ALPN_CERT_LIFETIME (7L * 24 * 60 * 60)

static int sha256_text(unsigned char digest[SHA256_DIGEST_LENGTH], const char *text)
{
	if (!EVP_Digest(text, strlen(text), digest, NULL, EVP_sha256(), NULL)) {
		ERR_clear_error();
		return AT_E_CRYPTO;
	}
	return 0;
}

int at_dns01_txt_value(char **out, const char *key_authorization)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int rc;

	if (out == NULL || key_authorization == NULL || *key_authorization == '\0')
		return AT_E_INVAL;
	rc = sha256_text(digest, key_authorization);
	if (rc != 0)
		return rc;
	return at_b64url_encode(out, digest, sizeof(digest));
}

/* A positive random serial of up to 159 bits (RFC 5280 section 4.1.2.2 allows 20 octets, positive). */
static int random_serial(X509 *cert)
{
	unsigned char bytes[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	int rc = AT_E_CRYPTO;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		goto out;
	bytes[0] &= 0x7f;
	bytes[0] |= 0x01; /* never zero, never negative */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (bn == NULL)
		goto out;
	serial = BN_to_ASN1_INTEGER(bn, NULL);
	if (serial == NULL || !X509_set_serialNumber(cert, serial))
		goto out;
	rc = 0;
out:
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return rc;
}

/*
 * The critical acmeIdentifier extension: extnValue is the DER of an OCTET STRING holding SHA-256 of the key
 * authorization (RFC 8737 section 3), so the extension's value octets are 04 20 followed by the 32-byte digest.
 */
static int add_acme_identifier(X509 *cert, const char *key_authorization)
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *inner = NULL;
	ASN1_OCTET_STRING *value = NULL;
	X509_EXTENSION *ext = NULL;
	unsigned char *der = NULL;
	int derlen;
	int rc;

	rc = sha256_text(digest, key_authorization);
	if (rc != 0)
		return rc;
	rc = AT_E_CRYPTO;
	/* no_name = 1: take the dotted text as an OID even if this OpenSSL does not know the name. */
	oid = OBJ_txt2obj(OID_ACME_IDENTIFIER, 1);
	inner = ASN1_OCTET_STRING_new();
	value = ASN1_OCTET_STRING_new();
	if (oid == NULL || inner == NULL || value == NULL || !ASN1_OCTET_STRING_set(inner, digest, sizeof(digest)))
		goto out;
	derlen = i2d_ASN1_OCTET_STRING(inner, &der);
	if (derlen != 2 + SHA256_DIGEST_LENGTH || !ASN1_OCTET_STRING_set(value, der, derlen))
		goto out;
	ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, value);
	if (ext == NULL || !X509_add_ext(cert, ext, -1))
		goto out;
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	OPENSSL_free(der);
	ASN1_OCTET_STRING_free(value);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);
	return rc;
}

int at_alpn01_cert_make(X509 **cert, EVP_PKEY **key, const char *identifier, const char *key_authorization)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	GENERAL_NAMES *san = NULL;
	X509_NAME *name = NULL;
	int rc;

	if (cert == NULL || key == NULL || identifier == NULL || key_authorization == NULL ||
	    *key_authorization == '\0')
		return AT_E_INVAL;
	/* RFC 8737 section 3: tls-alpn-01 cannot validate a wildcard; the caller passes the bare name. */
	if (strchr(identifier, '*') != NULL)
		return AT_E_INVAL;
	rc = at_san_names(&san, &identifier, 1);
	if (rc != 0)
		goto out;
	rc = at_key_generate(&k, AT_KEY_P256);
	if (rc != 0)
		goto out;
	rc = AT_E_CRYPTO;
	x = X509_new();
	name = X509_NAME_new();
	if (x == NULL || name == NULL)
		goto out;
	/* v3; subject and issuer empty (self-signed, so equal), the identifier lives in the SAN alone. */
	if (!X509_set_version(x, X509_VERSION_3) || !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
		goto out;
	rc = random_serial(x);
	if (rc != 0)
		goto out;
	rc = AT_E_CRYPTO;
	if (X509_gmtime_adj(X509_getm_notBefore(x), -ALPN_CERT_BACKDATE) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), ALPN_CERT_LIFETIME) == NULL)
		goto out;
	if (!X509_set_pubkey(x, k))
		goto out;
	/* Critical because the subject is empty (RFC 5280 section 4.2.1.6). */
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, san, 1, X509V3_ADD_DEFAULT) != 1)
		goto out;
	rc = add_acme_identifier(x, key_authorization);
	if (rc != 0)
		goto out;
	rc = AT_E_CRYPTO;
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		goto out;
	*cert = x;
	*key = k;
	x = NULL;
	k = NULL;
	rc = 0;
out:
	X509_NAME_free(name);
	GENERAL_NAMES_free(san);
	EVP_PKEY_free(k);
	X509_free(x);
	if (rc == AT_E_CRYPTO)
		ERR_clear_error();
	return rc;
}

int at_reverse_dns_name(char **out, const char *ip)
{
	unsigned char a[sizeof(struct in6_addr)];
	static const char hex[] = "0123456789abcdef";
	/* IPv6: 32 nibbles, each with a dot, then "ip6.arpa" and the NUL. */
	char buf[32 * 2 + sizeof("ip6.arpa")];
	size_t o = 0;

	if (out == NULL || ip == NULL)
		return AT_E_INVAL;
	if (inet_pton(AF_INET, ip, a) == 1) {
		/* RFC 1035 section 3.5: octets in reverse order under in-addr.arpa. */
		snprintf(buf, sizeof(buf), "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		/* RFC 3596 section 2.5: nibbles, least significant first, under ip6.arpa. */
		for (int i = 15; i >= 0; i--) {
			buf[o++] = hex[a[i] & 0x0f];
			buf[o++] = '.';
			buf[o++] = hex[a[i] >> 4];
			buf[o++] = '.';
		}
		memcpy(buf + o, "ip6.arpa", sizeof("ip6.arpa"));
	} else {
		return AT_E_INVAL;
	}
	char *copy = strdup(buf);
	if (copy == NULL)
		return AT_E_NOMEM;
	*out = copy;
	return 0;
}
