/* Internal to acme/: subjectAltName entries from identifier strings (see san.c). */
#ifndef AUTOTLS_ACME_SAN_H
#define AUTOTLS_ACME_SAN_H

#include "util/err.h"

#include <openssl/x509v3.h>
#include <stddef.h>

/*
 * One GENERAL_NAME per name, in order: iPAddress (4 or 16 octets) for an IPv4/IPv6 literal, dNSName otherwise.
 * names are borrowed. *out is new; free with GENERAL_NAMES_free. Returns 0, AT_E_INVAL (no names, an empty or
 * over-long name), AT_E_NOMEM.
 */
int at_san_names(GENERAL_NAMES **out, const char *const *names, size_t nnames) AT_MUST_CHECK;

#endif
