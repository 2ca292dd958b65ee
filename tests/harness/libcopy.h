/*
 * The preload the harness puts under a server. Servers that start as another user (PostgreSQL as postgres, Redis
 * as redis) load it themselves, so every folder above it must be searchable by others; a clone in a folder only
 * its owner can enter (root's home) is not. Then the three files the preload needs (libautotls.so and, beside it,
 * libautotls-manager.so and autotls-manager) are copied once per test process into a world-readable temporary
 * folder, removed when that process exits.
 */
#ifndef AUTOTLS_TESTS_HARNESS_LIBCOPY_H
#define AUTOTLS_TESTS_HARNESS_LIBCOPY_H

#include <stddef.h>

/* The absolute path of the preload for servers: $BUILD/libautotls.so when every user can reach it, else the
 * copy's (its folder named after the build folder, so that a sanitizer build's name stays in the path). 0, or -1
 * (and says why). */
int harness_shim_lib_for_servers(char *out, size_t cap);

/* 1 when every folder above path (absolute) is searchable by others and path itself is readable by them. */
int harness_reachable_by_others(const char *path);

#endif
