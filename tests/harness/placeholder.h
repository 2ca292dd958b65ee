/*
 * The self-signed placeholder certificate a server under test starts with (the shim replaces it): P-256, CN and
 * SAN the name given, valid for 30 days, written as a PEM certificate (0644) and a PKCS#8 PEM key (0600).
 */
#ifndef AUTOTLS_TESTS_HARNESS_PLACEHOLDER_H
#define AUTOTLS_TESTS_HARNESS_PLACEHOLDER_H

#include <stddef.h>

/*
 * Makes the placeholder for cn at cert_path and key_path, unless both files are there already (a restart keeps
 * the same placeholder: then the certificate is only read). serial (may be NULL) gets the certificate's serial
 * in upper-case hex, as in tls_client_result.serial. 0, or -1 (an empty path, a file that cannot be written
 * or read, a serial that does not fit in cap).
 */
int harness_placeholder(const char *cert_path, const char *key_path, const char *cn, char *serial, size_t cap);

#endif
