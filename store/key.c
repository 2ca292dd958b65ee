/*
 * Store keys and the default store location. Keys are built and checked here so that every backend can rely on
 * one syntax: components of [a-z0-9._-] that never start with '.' (so never "." or "..", and the file backend
 * can keep its temporaries and locks under dot-names no key can reach); the backends' listings are built and
 * sorted here too, one way for both.
 */
#include "store/keypath.h"
#include "store/store.h"
#include "util/err.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int at_store_component_ok(const char *c, size_t n)
{
	if (c == NULL || n == 0 || n > AT_STORE_COMPONENT_MAX || c[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = c[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int at_store_key_check(const char *key, int prefix)
{
	size_t len, start = 0;

	if (key == NULL)
		return AT_E_BADNAME;
	len = strlen(key);
	if (len > AT_STORE_KEY_MAX)
		return AT_E_BADNAME;
	if (prefix) {
		if (len == 0)
			return 0;
		if (key[len - 1] != '/')
			return AT_E_BADNAME;
		len--;
	}
	if (len == 0)
		return AT_E_BADNAME;
	while (start <= len) {
		const char *slash = memchr(key + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - key) : len;
		if (!at_store_component_ok(key + start, end - start))
			return AT_E_BADNAME;
		start = end + 1;
	}
	return 0;
}

int at_store_key(char *buf, size_t size, const char *first, ...)
{
	va_list ap;
	size_t o = 0;
	int rc = 0;

	if (buf == NULL || size == 0 || first == NULL)
		return AT_E_BADNAME;
	va_start(ap, first);
	for (const char *c = first; c != NULL; c = va_arg(ap, const char *)) {
		size_t n = strlen(c);
		if (!at_store_component_ok(c, n)) {
			rc = AT_E_BADNAME;
			break;
		}
		if (o + (o ? 1 : 0) + n + 1 > size) {
			rc = AT_E_RANGE;
			break;
		}
		if (o)
			buf[o++] = '/';
		memcpy(buf + o, c, n);
		o += n;
	}
	va_end(ap);
	if (rc == 0 && o > AT_STORE_KEY_MAX)
		rc = AT_E_RANGE;
	if (rc == 0)
		buf[o] = '\0';
	return rc;
}

void at_store_list_free(char **keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

char *at_store_list_entry(const char *prefix, size_t plen, const char *c, size_t n, int folder)
{
	char *item = malloc(plen + n + 2);
	if (item == NULL)
		return NULL;
	memcpy(item, prefix, plen);
	memcpy(item + plen, c, n);
	if (folder)
		item[plen + n++] = '/';
	item[plen + n] = '\0';
	return item;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void at_store_list_hand_over(char ***out, size_t *cnt, char ***keys, size_t *n)
{
	if (*cnt > 1)
		qsort(*out, *cnt, sizeof **out, cmp_str);
	*keys = *out;
	*n = *cnt;
	*out = NULL;
	*cnt = 0;
}

static int join(char **out, const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = malloc(n);

	if (p == NULL)
		return AT_E_NOMEM;
	snprintf(p, n, "%s%s", a, b);
	*out = p;
	return 0;
}

/* The default folder below which a host keeps its store, with tail appended ("" or "/local"). secure_getenv: a
 * set-uid or otherwise elevated process must not let its caller pick where keys are kept. */
static int default_base(char **out, const char *tail)
{
	const char *env;
	char pwbuf[4096], sfx[64];
	struct passwd pw, *res = NULL;

	if (geteuid() == 0)
		return join(out, "/var/lib/autotls", tail);
	env = secure_getenv("XDG_DATA_HOME");
	snprintf(sfx, sizeof(sfx), "/autotls%s", tail);
	if (env != NULL && env[0] == '/') /* the XDG spec says relative values are to be ignored */
		return join(out, env, sfx);
	env = secure_getenv("HOME");
	if (env == NULL || env[0] != '/') {
		if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof pwbuf, &res) != 0 || res == NULL || pw.pw_dir == NULL ||
		    pw.pw_dir[0] != '/')
			return AT_E_STATE;
		env = pw.pw_dir;
	}
	snprintf(sfx, sizeof(sfx), "/.local/share/autotls%s", tail);
	return join(out, env, sfx);
}

int at_store_default_path(char **out)
{
	const char *env = secure_getenv("AUTOTLS_STORAGE");

	if (out == NULL)
		return AT_E_INVAL;
	if (env != NULL && env[0] != '\0')
		return join(out, env, "");
	return default_base(out, "");
}

int at_store_default_local_path(char **out)
{
	if (out == NULL)
		return AT_E_INVAL;
	return default_base(out, "/local");
}
