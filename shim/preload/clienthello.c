#include "shim/preload/clienthello.h"
#include "util/err.h"

#include <string.h>

int ch_parse_sni(const unsigned char *p, size_t n, char out[CH_SNI_MAX + 1])
{
	if (p == NULL)
		return AT_E_NOTFOUND;
	if (n < 2)
		return AT_E_PARSE;
	size_t list = (size_t)p[0] << 8 | p[1];
	if (list + 2 != n)
		return AT_E_PARSE;
	size_t i = 2;
	while (i + 3 <= n) {
		unsigned type = p[i];
		size_t len = (size_t)p[i + 1] << 8 | p[i + 2];
		i += 3;
		if (len > n - i)
			return AT_E_PARSE;
		if (type == 0) { /* host_name */
			if (len == 0 || len > CH_SNI_MAX)
				return AT_E_PARSE;
			for (size_t k = 0; k < len; k++) {
				unsigned char ch = p[i + k];
				if (ch <= 0x20 || ch == 0x7f)
					return AT_E_PARSE;
				out[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
			}
			out[len] = '\0';
			return 0;
		}
		i += len;
	}
	return i == n ? AT_E_NOTFOUND : AT_E_PARSE; /* a whole list without a host_name, or bytes left over */
}

bool ch_alpn_only_acme(const unsigned char *p, size_t n)
{
	static const char acme[] = "acme-tls/1";
	const size_t alen = sizeof(acme) - 1;
	/* list length (2) + protocol length (1) + "acme-tls/1" (10), and nothing else */
	if (p == NULL || n != 2 + 1 + alen)
		return false;
	if (((size_t)p[0] << 8 | p[1]) != 1 + alen || p[2] != alen)
		return false;
	return memcmp(p + 3, acme, alen) == 0;
}
