/* base64url without padding (RFC 8555 section 6.1 / RFC 7515 section 2), as JWS and key authorizations need, and
 * standard base64 (RFC 4648 section 4). Only libc: the preload links it too (shim/config.c). */
#ifndef AUTOTLS_UTIL_B64_H
#define AUTOTLS_UTIL_B64_H

#include "util/err.h"

#include <stddef.h>

/* Encodes n bytes. *out is a new NUL-terminated string the caller frees. Returns 0 or AT_E_NOMEM. */
int at_b64url_encode(char **out, const void *in, size_t n) AT_MUST_CHECK;

/* Decodes base64url (padding tolerated). *out (caller frees) gets *outlen bytes. Returns 0, AT_E_PARSE, AT_E_NOMEM. */
int at_b64url_decode(unsigned char **out, size_t *outlen, const char *in, size_t n) AT_MUST_CHECK;

/* Standard base64 with padding, for PEM-less DER bodies (e.g. none yet); same ownership as above. */
int at_b64_encode(char **out, const void *in, size_t n) AT_MUST_CHECK;

/* Decodes strict standard base64 (RFC 4648 section 4): the "+/" alphabet, padding required, nothing after it,
 * at least one group (a TSIG secret as tsig-keygen prints it). Nothing is decoded before the
 * whole input is checked, so a refused secret leaves no partial copy behind. *out (caller frees) gets *outlen
 * bytes. Returns 0, AT_E_PARSE, AT_E_NOMEM. */
int at_b64_decode(unsigned char **out, size_t *outlen, const char *in, size_t n) AT_MUST_CHECK;

#endif
