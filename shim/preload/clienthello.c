#include "shim/preload/clienthello.h"

#include <string.h>

int ch_parse_sni(const unsigned char *p, size_t n, char out[CH_SNI_MAX + 1])
{
	if (p == NULL || n < 2)
		return -1;
	size_t list = (size_t)p[0] << 8 | p[1];
	if (list + 2 != n)
		return -1;
	size_t i = 2;
	while (i + 3 <= n) {
		unsigned type = p[i];
		size_t len = (size_t)p[i + 1] << 8 | p[i + 2];
		i += 3;
		if (len > n - i)
			return -1;
		if (type == 0) { /* host_name */
			if (len == 0 || len > CH_SNI_MAX)
				return -1;
			for (size_t k = 0; k < len; k++) {
				unsigned char ch = p[i + k];
				if (ch <= 0x20 || ch == 0x7f)
					return -1;
				out[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
			}
			out[len] = '\0';
			return 0;
		}
		i += len;
	}
	return -1;
}

int ch_alpn_only_acme(const unsigned char *p, size_t n)
{
	static const char acme[] = "acme-tls/1";
	const size_t alen = sizeof(acme) - 1;
	/* list length (2) + protocol length (1) + "acme-tls/1" (10), and nothing else */
	if (p == NULL || n != 2 + 1 + alen)
		return 0;
	if (((size_t)p[0] << 8 | p[1]) != 1 + alen || p[2] != alen)
		return 0;
	return memcmp(p + 3, acme, alen) == 0;
}
