/*
 * A certificate carries exactly its own names: a handshake to a running server for a name, verified by a client
 * that trusts only root_file, whose leaf's subjectAltName DNS names are exactly the set asked for (no other
 * site's name in it, none missing). For the many-sites scenarios (test_8xx, bench_sites).
 */
#ifndef AUTOTLS_TESTS_HARNESS_SAN_CHECK_H
#define AUTOTLS_TESTS_HARNESS_SAN_CHECK_H

#include <stddef.h>

/* 0 when a verified handshake to 127.0.0.1:port for sni showed a leaf whose DNS names are exactly
 * names[0..n) (any order); 1 when it verified with other names (printed unless quiet); -1 when it did not
 * complete or verify. Quiet: no client chatter. */
int san_check_exact(int port, const char *sni, const char *root_file, const char *const *names, size_t n);

#endif
