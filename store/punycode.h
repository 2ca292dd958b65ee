/*
 * RFC 3492 punycode encoding, the one piece of IDNA that store/name.c needs to turn a UTF-8 label into an
 * A-label. Decoding is not offered: nothing in the core reads punycode back.
 */
#ifndef AUTOTLS_STORE_PUNYCODE_H
#define AUTOTLS_STORE_PUNYCODE_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

/* Encodes n code points into out (size bytes, NUL-terminated, without the "xn--" prefix). Returns 0,
 * AT_E_RANGE when out is too small or a counter would overflow, AT_E_INVAL for a code point above U+10FFFF. */
int at_punycode_encode(char *out, size_t size, const uint32_t *cp, size_t n) AT_MUST_CHECK;

#endif
