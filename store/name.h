/*
 * Identifier normalisation, before a name is used as a store component, sent to a CA or compared with SNI:
 * lowercase, no trailing dot, IDNA A-labels (RFC 3492 punycode for labels with non-ASCII UTF-8), LDH labels of
 * 1..63 bytes, 253 bytes at most; an optional leading "*." wildcard label; IP literals (RFC 8738) in their
 * canonical text form. Anything that could leave a folder (".", "..", "/", "\\", NUL, control bytes) is refused.
 */
#ifndef AUTOTLS_STORE_NAME_H
#define AUTOTLS_STORE_NAME_H

#include "util/err.h"

#include <stddef.h>

#define AT_NAME_MAX 253

/* Writes the normalised form of in (in_len bytes, which may contain a NUL: it is refused) into out[AT_NAME_MAX+1].
 * Returns 0 or AT_E_BADNAME. */
int at_name_normalize(char out[AT_NAME_MAX + 1], const char *in, size_t in_len) AT_MUST_CHECK;

/* The store component for a normalised name (refused with AT_E_BADNAME if it is not normalised): a DNS name or
 * IPv4 literal is its own component, a wildcard "*.rest" becomes "_.rest" and an IPv6 literal has each ':'
 * replaced by '_'. The mapping is injective (normalised names never contain '_'). out holds AT_NAME_MAX+1 bytes. */
int at_name_to_component(char out[AT_NAME_MAX + 1], const char *normalized) AT_MUST_CHECK;

#endif
