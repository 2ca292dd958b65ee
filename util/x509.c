/*
 * Certificate checks (see util/x509.h). The store calls at_chain_check before it promotes a staged record and
 * again when it loads one, so everything here treats its input as hostile: the PEM is bounded, the text between
 * certificates must be whitespace, a private key is never decrypted with a prompt, and OpenSSL's error queue is
 * cleared so a failed parse here never shows up as a stray error in the host's own TLS code.
 */
#include "util/x509.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char pem_begin[] = "-----BEGIN CERTIFICATE-----";
static const char pem_end[] = "-----END CERTIFICATE-----";

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parses exactly one PEM certificate block of n bytes. */
static int parse_one(X509 **out, const char *p, size_t n)
{
	BIO *bio = BIO_new_mem_buf(p, (int)n);
	X509 *x = NULL;

	if (bio == NULL)
		return AT_E_NOMEM;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (x == NULL) {
		ERR_clear_error();
		return AT_E_PARSE;
	}
	*out = x;
	return 0;
}

int at_chain_parse(STACK_OF(X509) **out, const char *pem, size_t len)
{
	STACK_OF(X509) *sk = NULL;
	size_t i = 0;
	int rc;

	if (pem == NULL)
		return AT_E_INVAL;
	if (len > AT_CHAIN_MAX_PEM)
		return AT_E_TOOBIG;
	sk = sk_X509_new_null();
	if (sk == NULL)
		return AT_E_NOMEM;
	for (;;) {
		while (i < len && is_space(pem[i]))
			i++;
		if (i == len)
			break;
		/* Anything but a certificate block here is garbage: refuse rather than skip it, so a record
		 * with a key or text pasted into the chain is noticed. */
		if (len - i < sizeof pem_begin - 1 || memcmp(pem + i, pem_begin, sizeof pem_begin - 1) != 0) {
			rc = AT_E_PARSE;
			goto out;
		}
		const char *end = memmem(pem + i, len - i, pem_end, sizeof pem_end - 1);
		if (end == NULL) {
			rc = AT_E_PARSE;
			goto out;
		}
		size_t stop = (size_t)(end - pem) + sizeof pem_end - 1;
		if (sk_X509_num(sk) >= AT_CHAIN_MAX_CERTS) {
			rc = AT_E_TOOBIG;
			goto out;
		}
		X509 *x = NULL;
		rc = parse_one(&x, pem + i, stop - i);
		if (rc != 0)
			goto out;
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			rc = AT_E_NOMEM;
			goto out;
		}
		i = stop;
	}
	if (sk_X509_num(sk) == 0) {
		rc = AT_E_PARSE;
		goto out;
	}
	*out = sk;
	sk = NULL;
	rc = 0;
out:
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

static int asn1_time_to_time_t(time_t *out, const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof tm);
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm)) {
		ERR_clear_error();
		return AT_E_PARSE;
	}
	*out = timegm(&tm);
	return 0;
}

static int name_to_text(char *out, size_t size, const X509_NAME *name)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p = NULL;
	long n;

	if (bio == NULL)
		return AT_E_NOMEM;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
		BIO_free(bio);
		ERR_clear_error();
		return AT_E_PARSE;
	}
	n = BIO_get_mem_data(bio, &p);
	if (n < 0)
		n = 0;
	if ((size_t)n >= size)
		n = (long)size - 1; /* truncated on purpose: for log lines only */
	if (n > 0)
		memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return 0;
}

static int serial_to_text(char *out, size_t size, X509 *cert)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = NULL;
	int rc = AT_E_PARSE;

	if (bn == NULL)
		goto out;
	hex = BN_bn2hex(bn);
	if (hex == NULL)
		goto out;
	if (strlen(hex) >= size) {
		rc = AT_E_RANGE;
		goto out;
	}
	for (size_t i = 0; hex[i]; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	out[strlen(hex)] = '\0';
	rc = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	ERR_clear_error();
	return rc;
}

/* Appends one SAN as text to info->names; NULL text means "skip this entry" (not a type we use). */
static int push_name(struct at_cert_info *info, const GENERAL_NAME *gn)
{
	char text[INET6_ADDRSTRLEN];
	char *copy = NULL;

	if (gn->type == GEN_DNS) {
		const ASN1_STRING *s = gn->d.dNSName;
		int n = ASN1_STRING_length(s);
		const unsigned char *d = ASN1_STRING_get0_data(s);
		/* An embedded NUL or a non-printable byte would let a SAN compare equal to something else. */
		if (n <= 0 || n > 253)
			return 0;
		copy = malloc((size_t)n + 1);
		if (copy == NULL)
			return AT_E_NOMEM;
		for (int i = 0; i < n; i++) {
			if (d[i] <= 0x20 || d[i] >= 0x7f) {
				free(copy);
				return 0;
			}
			copy[i] = (char)tolower(d[i]);
		}
		copy[n] = '\0';
	} else if (gn->type == GEN_IPADD) {
		const ASN1_OCTET_STRING *s = gn->d.iPAddress;
		int n = ASN1_STRING_length(s);
		const unsigned char *d = ASN1_STRING_get0_data(s);
		if (n == 4) {
			if (inet_ntop(AF_INET, d, text, sizeof text) == NULL)
				return 0;
		} else if (n == 16) {
			if (inet_ntop(AF_INET6, d, text, sizeof text) == NULL)
				return 0;
		} else {
			return 0;
		}
		copy = strdup(text);
		if (copy == NULL)
			return AT_E_NOMEM;
	} else {
		return 0;
	}
	char **grown = realloc(info->names, (info->nnames + 1) * sizeof *grown);
	if (grown == NULL) {
		free(copy);
		return AT_E_NOMEM;
	}
	info->names = grown;
	info->names[info->nnames++] = copy;
	return 0;
}

int at_cert_info_get(struct at_cert_info *info, X509 *cert)
{
	struct at_cert_info tmp;
	GENERAL_NAMES *gens = NULL;
	int rc;

	if (info == NULL || cert == NULL)
		return AT_E_INVAL;
	memset(&tmp, 0, sizeof tmp);
	rc = asn1_time_to_time_t(&tmp.not_before, X509_get0_notBefore(cert));
	if (rc != 0)
		goto out;
	rc = asn1_time_to_time_t(&tmp.not_after, X509_get0_notAfter(cert));
	if (rc != 0)
		goto out;
	rc = name_to_text(tmp.subject, sizeof tmp.subject, X509_get_subject_name(cert));
	if (rc != 0)
		goto out;
	rc = name_to_text(tmp.issuer, sizeof tmp.issuer, X509_get_issuer_name(cert));
	if (rc != 0)
		goto out;
	rc = serial_to_text(tmp.serial, sizeof tmp.serial, cert);
	if (rc != 0)
		goto out;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		rc = push_name(&tmp, sk_GENERAL_NAME_value(gens, i));
		if (rc != 0)
			goto out;
	}
	*info = tmp;
	memset(&tmp, 0, sizeof tmp);
	rc = 0;
out:
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	at_cert_info_clear(&tmp);
	return rc;
}

void at_cert_info_clear(struct at_cert_info *info)
{
	if (info == NULL)
		return;
	for (size_t i = 0; i < info->nnames; i++)
		free(info->names[i]);
	free(info->names);
	memset(info, 0, sizeof *info);
}

/* A key PEM is never decrypted: this callback refuses instead of prompting on the host's terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static int key_matches(X509 *leaf, const char *key_pem, size_t key_len)
{
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	int rc;

	if (key_len > AT_CHAIN_MAX_PEM)
		return AT_E_TOOBIG;
	bio = BIO_new_mem_buf(key_pem, (int)key_len);
	if (bio == NULL)
		return AT_E_NOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	if (key == NULL) {
		rc = AT_E_PARSE;
		goto out;
	}
	rc = X509_check_private_key(leaf, key) == 1 ? 0 : AT_E_KEY_MISMATCH;
out:
	EVP_PKEY_free(key);
	BIO_free(bio);
	ERR_clear_error();
	return rc;
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Whether SAN san covers name. A wildcard SAN "*.rest" covers exactly one extra non-empty label (RFC 6125
 * section 6.4.3, without partial-label wildcards) and never an IP address. */
static int san_covers(const char *san, const char *name)
{
	if (strcasecmp(san, name) == 0)
		return 1;
	if (san[0] != '*' || san[1] != '.' || is_ip_literal(name))
		return 0;
	const char *dot = strchr(name, '.');
	if (dot == NULL || dot == name || name[0] == '*')
		return 0;
	return strcasecmp(dot + 1, san + 2) == 0;
}

static int names_check(const struct at_cert_info *info, const char *const *names, size_t nnames, unsigned flags)
{
	int exact = (flags & AT_CHECK_NAMES_EXACT) != 0;

	for (size_t i = 0; i < nnames; i++) {
		int found = 0;
		if (names[i] == NULL)
			return AT_E_INVAL;
		for (size_t j = 0; j < info->nnames && !found; j++)
			found = exact ? strcasecmp(info->names[j], names[i]) == 0 : san_covers(info->names[j], names[i]);
		if (!found)
			return AT_E_NAMES;
	}
	if (!exact)
		return 0;
	for (size_t j = 0; j < info->nnames; j++) {
		int found = 0;
		for (size_t i = 0; i < nnames && !found; i++)
			found = strcasecmp(info->names[j], names[i]) == 0;
		if (!found)
			return AT_E_NAMES;
	}
	return 0;
}

/* Verifies leaf with the rest of the chain as untrusted intermediates. The validity period is only checked when
 * AT_CHECK_NOT_EXPIRED is asked for, so that the flags stay independent of each other; then at now, or at the
 * leaf's notBefore when that is later (a host clock behind the CA's, see AT_CHECK_NOT_EXPIRED). */
static int chain_verify(STACK_OF(X509) *chain, X509_STORE *trust, unsigned flags, time_t not_before)
{
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	int rc = AT_E_NOMEM;

	untrusted = sk_X509_new_null();
	ctx = X509_STORE_CTX_new();
	if (untrusted == NULL || ctx == NULL)
		goto out;
	for (int i = 1; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(untrusted, sk_X509_value(chain, i)))
			goto out;
	if (!X509_STORE_CTX_init(ctx, trust, sk_X509_value(chain, 0), untrusted)) {
		rc = AT_E_CRYPTO;
		goto out;
	}
	if (!(flags & AT_CHECK_NOT_EXPIRED))
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
	else if (not_before > time(NULL))
		X509_STORE_CTX_set_time(ctx, 0, not_before);
	rc = X509_verify_cert(ctx) == 1 ? 0 : AT_E_CHAIN;
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted); /* borrowed certificates: free the stack only */
	ERR_clear_error();
	return rc;
}

/*
 * AT_CHECK_CHAIN_LINKED: certificate i is issued by certificate i + 1 (names, key identifiers and key usage, as
 * X509_check_issued sees them) and its signature verifies with that certificate's key. The top is not checked
 * against anything (the root is not sent, RFC 8555 section 7.4.2), except a lone leaf that claims to be its own
 * issuer, which must then be signed by its own key.
 */
static int chain_linked(STACK_OF(X509) *chain)
{
	int n = sk_X509_num(chain);
	int rc = 0;

	for (int i = 0; i + 1 < n && rc == 0; i++) {
		X509 *sub = sk_X509_value(chain, i), *iss = sk_X509_value(chain, i + 1);
		EVP_PKEY *k = X509_get0_pubkey(iss);
		if (X509_check_issued(iss, sub) != X509_V_OK || k == NULL || X509_verify(sub, k) != 1)
			rc = AT_E_CHAIN;
	}
	if (rc == 0 && n == 1) {
		X509 *leaf = sk_X509_value(chain, 0);
		EVP_PKEY *k = X509_get0_pubkey(leaf);
		if (X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(leaf)) == 0 &&
		    (k == NULL || X509_verify(leaf, k) != 1))
			rc = AT_E_CHAIN;
	}
	ERR_clear_error();
	return rc;
}

int at_chain_check(const char *chain_pem, size_t chain_len, const char *key_pem, size_t key_len,
		   const char *const *names, size_t nnames, X509_STORE *trust, unsigned flags,
		   struct at_cert_info *info)
{
	STACK_OF(X509) *chain = NULL;
	struct at_cert_info tmp;
	int rc;

	memset(&tmp, 0, sizeof tmp);
	if (chain_pem == NULL || key_pem == NULL || (names == NULL && nnames > 0))
		return AT_E_INVAL;
	rc = at_chain_parse(&chain, chain_pem, chain_len);
	if (rc != 0)
		goto out;
	X509 *leaf = sk_X509_value(chain, 0);
	rc = key_matches(leaf, key_pem, key_len);
	if (rc != 0)
		goto out;
	rc = at_cert_info_get(&tmp, leaf);
	if (rc != 0)
		goto out;
	rc = names_check(&tmp, names, nnames, flags);
	if (rc != 0)
		goto out;
	if (flags & AT_CHECK_NOT_EXPIRED) {
		if (time(NULL) >= tmp.not_after) {
			rc = AT_E_EXPIRED;
			goto out;
		}
	}
	if (flags & AT_CHECK_CHAIN_LINKED) {
		rc = chain_linked(chain);
		if (rc != 0)
			goto out;
	}
	if (trust != NULL) {
		rc = chain_verify(chain, trust, flags, tmp.not_before);
		if (rc != 0)
			goto out;
	}
	if (info != NULL) {
		*info = tmp;
		memset(&tmp, 0, sizeof tmp);
	}
	rc = 0;
out:
	at_cert_info_clear(&tmp);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

int at_trust_from_pem(X509_STORE **out, const char *pem, size_t len)
{
	STACK_OF(X509) *certs = NULL;
	X509_STORE *st = NULL;
	int rc;

	rc = at_chain_parse(&certs, pem, len);
	if (rc != 0)
		goto out;
	st = X509_STORE_new();
	if (st == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		if (!X509_STORE_add_cert(st, sk_X509_value(certs, i))) {
			rc = AT_E_CRYPTO;
			goto out;
		}
	}
	*out = st;
	st = NULL;
	rc = 0;
out:
	X509_STORE_free(st);
	sk_X509_pop_free(certs, X509_free);
	ERR_clear_error();
	return rc;
}

int at_trust_from_pem_file(X509_STORE **out, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int fd = -1;
	int rc;

	if (path == NULL)
		return AT_E_INVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? AT_E_NOTFOUND : AT_E_IO;
	data = malloc(AT_CHAIN_MAX_PEM + 1);
	if (data == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, data + len, AT_CHAIN_MAX_PEM + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = AT_E_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > AT_CHAIN_MAX_PEM) {
			rc = AT_E_TOOBIG;
			goto out;
		}
	}
	rc = at_trust_from_pem(out, data, len);
out:
	free(data);
	if (fd >= 0)
		close(fd);
	return rc;
}
