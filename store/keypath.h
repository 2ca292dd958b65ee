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

/* A listing's entry (the backends' list()): prefix[0..plen) then the child's name c[0..n), with a '/' after a
 * folder's, since a folder is listed as the prefix it is. NULL when memory runs out. */
char *at_store_list_entry(const char *prefix, size_t plen, const char *c, size_t n, int folder);

/* Sorts a listing's entries (*out)[0..*cnt) in strcmp order and hands them to *keys and *n; *out and *cnt are
 * left empty, so the caller's cleanup frees nothing. */
void at_store_list_hand_over(char ***out, size_t *cnt, char ***keys, size_t *n);

#endif
