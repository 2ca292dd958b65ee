/*
 * FNV-1a, the one non-cryptographic hash of the project's tables (name indexes, the region's slot index, the
 * sync's table of shared intermediates): a few instructions a byte and no allocation, so it suits the handshake
 * path. Never for anything an attacker must not steer to a collision beyond a slower probe.
 */
#ifndef AUTOTLS_UTIL_FNV_H
#define AUTOTLS_UTIL_FNV_H

#include <stddef.h>
#include <stdint.h>

#define AT_FNV32_BASIS 2166136261u
#define AT_FNV64_BASIS 1469598103934665603ull

/* The 32-bit hash of the string s, continuing from h (AT_FNV32_BASIS to start). */
static inline uint32_t at_fnv1a32(uint32_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The 64-bit hash of p[0..n). */
static inline uint64_t at_fnv1a64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = AT_FNV64_BASIS;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

#endif
