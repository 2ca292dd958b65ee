/*
 * Pebble's roots as a chain test needs them: /roots/<i> of the management API into a file, with the root's
 * common name (Pebble offers alternate chains, one per root, with PEBBLE_ALTERNATE_ROOTS).
 */
#ifndef AUTOTLS_TESTS_HARNESS_PEBBLE_ROOTS_H
#define AUTOTLS_TESTS_HARNESS_PEBBLE_ROOTS_H

#include "tests/harness/pebble.h"

#include <stddef.h>

/* Writes root idx of p to <p's work folder>/root-<idx>.pem (path into file) and its subject CN into cn. 0 or -1. */
int pebble_root(const struct pebble *p, int idx, char *file, size_t fsize, char *cn, size_t cnsize);

#endif
