/* Which names on-demand issuance may ask for (see ondemand_policy.h). */
#include "shim/ondemand_policy.h"

#include <string.h>

/* "*.example.com" covers exactly one label below example.com; anything else must be equal. */
static int pattern_matches(const char *pat, const char *name)
{
	if (pat[0] == '*' && pat[1] == '.') {
		const char *dot = strchr(name, '.');
		return dot != NULL && dot != name && strcmp(dot, pat + 1) == 0;
	}
	return strcmp(pat, name) == 0;
}

bool ondemand_qualifies(const struct shim_config *cfg, const char *name)
{
	size_t n = strnlen(name, 254);
	int dots = 0;
	if (!cfg->on_demand || n == 0 || n > 253 || name[0] == '.' || name[n - 1] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '.') {
			if (name[i + 1] == '.' || name[i + 1] == '-' || (i > 0 && name[i - 1] == '-'))
				return false;
			dots++;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
	/* No dot (an intranet name), localhost, and an all-digit last label (an address in disguise) never
	 * qualify: no CA would issue, and they must never reach the CA or the ask URL. */
	const char *last = strrchr(name, '.');
	if (dots == 0 || strcmp(name, "localhost") == 0 || (n > 10 && strcmp(name + n - 10, ".localhost") == 0) ||
	    strspn(last + 1, "0123456789") == strlen(last + 1))
		return false;
	if (cfg->nallow == 0)
		return true; /* the ask URL decides, in the manager */
	for (size_t i = 0; i < cfg->nallow; i++)
		if (pattern_matches(cfg->allow[i], name))
			return true;
	return false;
}
