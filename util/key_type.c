/* Key type names (no libcrypto here: the preloaded library parses AUTOTLS_KEY_TYPE with it). */
#include "util/err.h"
#include "util/keys.h"

#include <stddef.h>
#include <strings.h>

static const struct {
	enum at_key_type type;
	const char *name;
} key_names[] = {
	{ AT_KEY_P256, "p256" },
	{ AT_KEY_P384, "p384" },
	{ AT_KEY_RSA2048, "rsa2048" },
	{ AT_KEY_RSA3072, "rsa3072" },
	{ AT_KEY_RSA4096, "rsa4096" },
};

#define N_KEY_NAMES (sizeof(key_names) / sizeof(key_names[0]))

int at_key_type_parse(enum at_key_type *out, const char *s)
{
	if (s == NULL)
		return AT_E_INVAL;
	for (size_t i = 0; i < N_KEY_NAMES; i++) {
		if (strcasecmp(s, key_names[i].name) == 0) {
			*out = key_names[i].type;
			return 0;
		}
	}
	return AT_E_INVAL;
}

const char *at_key_type_name(enum at_key_type type)
{
	for (size_t i = 0; i < N_KEY_NAMES; i++) {
		if (key_names[i].type == type)
			return key_names[i].name;
	}
	return "unknown";
}
