/*
 * Key syntax shared by at_store_key() and the backends, which check every key they are handed again: a backend
 * must never trust that a caller went through at_store_key().
 */
#ifndef AUTOTLS_STORE_KEYPATH_H
#define AUTOTLS_STORE_KEYPATH_H

#include "util/err.h"

#include <stddef.h>

#define AT_STORE_COMPONENT_MAX 253
#define AT_STORE_KEY_MAX 1024

/* Whether c[0..n) is a valid component: [a-z0-9_-][a-z0-9._-]{0,252}. */
int at_store_component_ok(const char *c, size_t n);

/* Checks a whole key: components joined by '/'. With prefix set the key must end in '/' (or be "", the root);
 * without, it must not. Returns 0 or AT_E_BADNAME. */
int at_store_key_check(const char *key, int prefix) AT_MUST_CHECK;

#endif
