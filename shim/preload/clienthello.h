/*
 * Parsing the two ClientHello extensions the shim needs, from the raw bytes SSL_client_hello_get0_ext gives
 * (inside the ClientHello callback SSL_get_servername() is not yet set). Every length is checked against what
 * is left before it is used; anything malformed is "not found", never a crash.
 */
#ifndef AUTOTLS_SHIM_PRELOAD_CLIENTHELLO_H
#define AUTOTLS_SHIM_PRELOAD_CLIENTHELLO_H

#include "util/err.h"

#include <stdbool.h>
#include <stddef.h>

#define CH_SNI_MAX 255

/* The first host_name of a server_name extension (RFC 6066 section 3), lowercased into out (NUL-terminated).
 * Returns 0, AT_E_NOTFOUND when there is no extension (ext NULL) or the list holds no host_name, or AT_E_PARSE
 * when the extension is malformed or the name is empty, over CH_SNI_MAX bytes, or holds NUL or control bytes. */
int ch_parse_sni(const unsigned char *ext, size_t len, char out[CH_SNI_MAX + 1]) AT_MUST_CHECK;

/* Whether an ALPN extension (RFC 7301 section 3.1) offers exactly one protocol, "acme-tls/1" (RFC 8737
 * section 3: the validation offers only that). */
bool ch_alpn_only_acme(const unsigned char *ext, size_t len);

#endif
