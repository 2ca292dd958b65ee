/*
 * The sites file's reader (shim/sites.h). Pure: no thread, no lock, no I/O but reading the one file in
 * sites_read; what it refuses it logs, one line per bad line, naming the file and the line, never more than
 * the first 80 bytes of what it read.
 */
#include "shim/sites.h"
#include "engine/engine.h"
#include "store/name.h"
#include "util/fnv.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t sites_name_limit(const char *profile)
{
	/* Let's Encrypt's profiles (letsencrypt.org/docs/profiles): tlsserver and shortlived allow 25 names. */
	if (profile != NULL && (strcmp(profile, "tlsserver") == 0 || strcmp(profile, "shortlived") == 0))
		return 25;
	return 100;
}

/* Every name taken so far, by hash (open addressing; the strings are borrowed from the lines and taken). */
struct nameset {
	const char **slot;
	size_t mask, fill;
};

static int set_has(const struct nameset *s, const char *name)
{
	for (size_t k = at_fnv1a32(AT_FNV32_BASIS, name) & s->mask; s->slot[k] != NULL; k = (k + 1) & s->mask)
		if (strcmp(s->slot[k], name) == 0)
			return 1;
	return 0;
}

static int set_add(struct nameset *s, const char *name)
{
	if (s->slot == NULL || 2 * (s->fill + 1) > s->mask + 1) {
		size_t cap = s->slot == NULL ? 1024 : 2 * (s->mask + 1);
		const char **nv = calloc(cap, sizeof(*nv));
		if (nv == NULL)
			return AT_E_NOMEM;
		for (size_t i = 0; s->slot != NULL && i <= s->mask; i++) {
			if (s->slot[i] == NULL)
				continue;
			size_t k = at_fnv1a32(AT_FNV32_BASIS, s->slot[i]) & (cap - 1);
			while (nv[k] != NULL)
				k = (k + 1) & (cap - 1);
			nv[k] = s->slot[i];
		}
		free(s->slot);
		s->slot = nv;
		s->mask = cap - 1;
	}
	size_t k = at_fnv1a32(AT_FNV32_BASIS, name) & s->mask;
	while (s->slot[k] != NULL)
		k = (k + 1) & s->mask;
	s->slot[k] = name;
	s->fill++;
	return 0;
}

static void line_free(struct site_line *l)
{
	for (size_t i = 0; i < l->nnames; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

void sites_clear(struct sites *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		line_free(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* One line (p[0..n), comment already cut) into *l. 0, 1 when the line is bad (logged), or AT_E_NOMEM. */
static int parse_line(struct site_line *l, const char *p, size_t n, const char *file, unsigned line, size_t limit,
		      const struct nameset *taken)
{
	size_t cap = 0;
	for (size_t i = 0; i < n;) {
		while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
			i++;
		if (i == n)
			break;
		size_t j = i;
		while (j < n && p[j] != ' ' && p[j] != '\t' && p[j] != '\r')
			j++;
		char norm[AT_NAME_MAX + 1];
		if (at_name_normalize(norm, p + i, j - i) != 0) {
			at_log_error("%s:%u: \"%.*s\" is not a valid domain name or IP address; the line is left out",
				     file, line, (int)(j - i > 80 ? 80 : j - i), p + i);
			return 1;
		}
		i = j;
		int dup = 0;
		for (size_t k = 0; k < l->nnames && !dup; k++)
			dup = strcmp(l->names[k], norm) == 0;
		if (dup)
			continue; /* a name twice on one line is one name, as in AUTOTLS_DOMAINS */
		if (set_has(taken, norm)) {
			at_log_error("%s:%u: %s is already on an earlier line or in AUTOTLS_DOMAINS (one name, one "
				     "certificate); the line is left out", file, line, norm);
			return 1;
		}
		if (l->nnames == limit) {
			at_log_error("%s:%u: more than %zu names; the CA allows at most %zu in one certificate%s; the "
				     "line is left out (no order is placed for it)", file, line, limit, limit,
				     limit == 25 ? " under this AUTOTLS_PROFILE" : "");
			return 1;
		}
		if (l->nnames == cap) {
			size_t nc = cap ? cap * 2 : 4;
			char **nv = realloc(l->names, nc * sizeof(*nv));
			if (nv == NULL)
				return AT_E_NOMEM;
			l->names = nv;
			cap = nc;
		}
		if ((l->names[l->nnames] = strdup(norm)) == NULL)
			return AT_E_NOMEM;
		l->nnames++;
	}
	return 0;
}

int sites_parse(struct sites *out, const char *text, size_t len, const char *file, const char *profile,
		const char *const *taken, size_t ntaken)
{
	struct nameset set = { 0 };
	size_t cap = 0, limit = sites_name_limit(profile);
	int rc = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < ntaken && rc == 0; i++)
		rc = set_add(&set, taken[i]);
	if (rc == 0 && set.slot == NULL)
		rc = set_add(&set, ""); /* the table exists; "" is no name */
	unsigned line = 0;
	for (size_t at = 0; at < len && rc == 0;) {
		const char *p = text + at;
		const char *nl = memchr(p, '\n', len - at);
		size_t n = nl ? (size_t)(nl - p) : len - at;
		at += n + (nl != NULL);
		line++;
		if (n > SITES_LINE_MAX) {
			at_log_error("%s:%u: longer than %u bytes; the line is left out", file, line, SITES_LINE_MAX);
			out->nbad++;
			continue;
		}
		if (memchr(p, '\0', n) != NULL) {
			at_log_error("%s:%u: holds a NUL byte; the line is left out", file, line);
			out->nbad++;
			continue;
		}
		const char *hash = memchr(p, '#', n);
		if (hash != NULL)
			n = (size_t)(hash - p);
		struct site_line l = { .line = line };
		int bad = parse_line(&l, p, n, file, line, limit, &set);
		if (bad < 0) {
			line_free(&l);
			rc = bad;
			break;
		}
		if (bad || l.nnames == 0) {
			out->nbad += bad;
			line_free(&l);
			continue;
		}
		if (out->n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct site_line *nv = realloc(out->v, nc * sizeof(*nv));
			if (nv == NULL) {
				line_free(&l);
				rc = AT_E_NOMEM;
				break;
			}
			out->v = nv;
			cap = nc;
		}
		for (size_t k = 0; k < l.nnames && rc == 0; k++)
			rc = set_add(&set, l.names[k]);
		out->v[out->n++] = l;
	}
	free(set.slot);
	if (rc != 0)
		sites_clear(out);
	return rc;
}

int sites_read(struct sites *out, const char *path, const char *profile, const char *const *taken, size_t ntaken)
{
	memset(out, 0, sizeof(*out));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		at_log_error("AUTOTLS_SITES: cannot read %s (%s); the sites it held are kept as they were", path,
			     fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return AT_E_IO;
	}
	if ((uint64_t)st.st_size > SITES_FILE_MAX) {
		at_log_error("AUTOTLS_SITES: %s is larger than %u MiB; it is not read", path, SITES_FILE_MAX >> 20);
		close(fd);
		return AT_E_TOOBIG;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		return AT_E_NOMEM;
	}
	for (;;) {
		if (len == cap) { /* grew while read: read what fits the cap */
			char *nb = cap < SITES_FILE_MAX ? realloc(buf, cap * 2 > SITES_FILE_MAX ? SITES_FILE_MAX : cap * 2)
							: NULL;
			if (nb == NULL)
				break;
			cap = cap * 2 > SITES_FILE_MAX ? SITES_FILE_MAX : cap * 2;
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	int rc = sites_parse(out, buf, len, path, profile, taken, ntaken);
	free(buf);
	return rc;
}

time_t sites_renew_at(const char *name, time_t not_before, time_t not_after)
{
	time_t due = at_renewal_time(not_before, not_after, 0, 0);
	long life = (long)(not_after - not_before), spread = life / 10;
	if (spread <= 0)
		return due;
	/* FNV-1a's low bits are weak for names that differ in one digit: mixed once more (a murmur finaliser). */
	uint32_t h = at_fnv1a32(AT_FNV32_BASIS, name);
	h ^= h >> 16, h *= 0x85ebca6bu, h ^= h >> 13, h *= 0xc2b2ae35u, h ^= h >> 16;
	return due + (time_t)((uint64_t)h * (uint64_t)spread >> 32);
}
