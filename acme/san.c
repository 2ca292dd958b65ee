/*
 * subjectAltName entries from identifier strings, shared by the finalize CSR (csr.c) and the TLS-ALPN-01
 * certificate (challenge_data.c): an IP literal becomes an iPAddress (RFC 8738 sections 4 and 6), anything else
 * a dNSName.
 */
#include "acme/san.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <string.h>

/* RFC 1035 section 2.3.4 caps a DNS name at 253 characters in text form; we refuse longer names. */
#define MAX_NAME_LEN 253

/* Appends one SAN entry for name to gens. Returns 0, AT_E_INVAL, AT_E_NOMEM. */
static int add_general_name(GENERAL_NAMES *gens, const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];
	GENERAL_NAME *gn = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	size_t len = name != NULL ? strlen(name) : 0;
	int alen = 0;
	int rc = AT_E_NOMEM;

	if (len == 0 || len > MAX_NAME_LEN)
		return AT_E_INVAL;
	if (inet_pton(AF_INET, name, addr) == 1)
		alen = 4;
	else if (inet_pton(AF_INET6, name, addr) == 1)
		alen = 16;

	gn = GENERAL_NAME_new();
	if (gn == NULL)
		goto out;
	if (alen > 0) {
		/* iPAddress is the address in network byte order: 4 or 16 octets (RFC 5280 section 4.2.1.6). */
		ip = ASN1_OCTET_STRING_new();
		if (ip == NULL || !ASN1_OCTET_STRING_set(ip, addr, alen))
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
		ip = NULL;
	} else {
		dns = ASN1_IA5STRING_new();
		if (dns == NULL || !ASN1_STRING_set(dns, name, (int)len))
			goto out;
		GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
		dns = NULL;
	}
	if (!sk_GENERAL_NAME_push(gens, gn))
		goto out;
	gn = NULL;
	rc = 0;
out:
	ASN1_IA5STRING_free(dns);
	ASN1_OCTET_STRING_free(ip);
	GENERAL_NAME_free(gn);
	return rc;
}

int at_san_names(GENERAL_NAMES **out, const char *const *names, size_t nnames)
{
	GENERAL_NAMES *gens = NULL;
	int rc;

	if (out == NULL || names == NULL || nnames == 0)
		return AT_E_INVAL;
	gens = sk_GENERAL_NAME_new_null();
	if (gens == NULL)
		return AT_E_NOMEM;
	for (size_t i = 0; i < nnames; i++) {
		rc = add_general_name(gens, names[i]);
		if (rc != 0) {
			GENERAL_NAMES_free(gens);
			return rc;
		}
	}
	*out = gens;
	return 0;
}
