/*
 * RFC 3492 section 6.3, the encoding procedure, with the parameter values of section 5. Output is lowercase
 * (section 5 lets the encoder choose) so that the result is already in store and SNI form.
 */
#include "store/punycode.h"
#include "util/err.h"

enum { BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700, INITIAL_BIAS = 72, INITIAL_N = 0x80 };

static char digit(uint32_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Section 6.1. */
static uint32_t adapt(uint32_t delta, uint32_t numpoints, int firsttime)
{
	uint32_t k = 0;

	delta = firsttime ? delta / DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((BASE - TMIN) * TMAX) / 2) {
		delta /= BASE - TMIN;
		k += BASE;
	}
	return k + (BASE - TMIN + 1) * delta / (delta + SKEW);
}

int at_punycode_encode(char *out, size_t size, const uint32_t *cp, size_t n)
{
	uint32_t nn = INITIAL_N, delta = 0, bias = INITIAL_BIAS, h, b;
	size_t o = 0;

	if (size == 0 || n > 1024)
		return AT_E_RANGE;
	for (size_t j = 0; j < n; j++) {
		if (cp[j] > 0x10FFFF)
			return AT_E_INVAL;
		if (cp[j] < 0x80) {
			if (o + 1 >= size)
				return AT_E_RANGE;
			out[o++] = (char)cp[j];
		}
	}
	h = b = (uint32_t)o;
	if (b > 0) {
		if (o + 1 >= size)
			return AT_E_RANGE;
		out[o++] = '-';
	}
	while (h < n) {
		uint32_t m = UINT32_MAX;
		for (size_t j = 0; j < n; j++)
			if (cp[j] >= nn && cp[j] < m)
				m = cp[j];
		if (m - nn > (UINT32_MAX - delta) / (h + 1))
			return AT_E_RANGE;
		delta += (m - nn) * (h + 1);
		nn = m;
		for (size_t j = 0; j < n; j++) {
			if (cp[j] < nn && ++delta == 0)
				return AT_E_RANGE;
			if (cp[j] != nn)
				continue;
			uint32_t q = delta;
			for (uint32_t k = BASE;; k += BASE) {
				uint32_t t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
				if (q < t)
					break;
				if (o + 1 >= size)
					return AT_E_RANGE;
				out[o++] = digit(t + (q - t) % (BASE - t));
				q = (q - t) / (BASE - t);
			}
			if (o + 1 >= size)
				return AT_E_RANGE;
			out[o++] = digit(q);
			bias = adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		nn++;
	}
	out[o] = '\0';
	return 0;
}
