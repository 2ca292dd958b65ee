/*
 * AUTOTLS_SITES: the sites file, one certificate a line (dehydrated's domains.txt convention). Names on a line
 * are separated by spaces or tabs; the first is the certificate's key (its store record and its record in the
 * region); `#` starts a comment to the end of the line; blank lines are ignored. Each name is checked as
 * AUTOTLS_DOMAINS checks its names (at_name_normalize). A bad line is one log line with the file, the line
 * number and the reason, and is left out; the other lines stand. Refused on their line, before any order:
 * more names than the CA allows where the limit is known (sites_name_limit), a name another line (or
 * AUTOTLS_DOMAINS' certificate) already has, an unreadable name, a line longer than SITES_LINE_MAX.
 * Read by the manager process's sites thread (shim/manager/sites.c), at start and whenever the file changes.
 */
#ifndef AUTOTLS_SHIM_SITES_H
#define AUTOTLS_SHIM_SITES_H

#include "util/err.h"

#include <stddef.h>

#define SITES_FILE_MAX (64u << 20) /* 64 MiB: 100,000 sites of a few names each fit many times over */
#define SITES_LINE_MAX 65536       /* 100 names of 253 bytes and their separators fit */

struct site_line {
	char **names;   /* owned, normalised; names[0] is the key */
	size_t nnames;
	unsigned line;  /* 1-based line number in the file */
};

struct sites {
	struct site_line *v; /* owned */
	size_t n;
	size_t nbad;         /* lines refused (each logged once) */
};

/* The most names a certificate may have under profile (AUTOTLS_PROFILE, may be NULL): Let's Encrypt publishes 25
 * for "tlsserver" and "shortlived", 100 otherwise. */
size_t sites_name_limit(const char *profile);

/*
 * Parses text[0..len) (the file's bytes; file names it in log lines) into *out (cleared first; free with
 * sites_clear). profile: AUTOTLS_PROFILE or NULL. taken[0..ntaken): names another certificate already covers
 * (AUTOTLS_DOMAINS), refused on any line. Returns 0 (bad lines are counted in out->nbad and logged) or AT_E_NOMEM.
 */
int sites_parse(struct sites *out, const char *text, size_t len, const char *file, const char *profile,
		const char *const *taken, size_t ntaken) AT_MUST_CHECK;

/* Reads path (at most SITES_FILE_MAX bytes) and parses it as sites_parse does. 0, AT_E_IO (logged: the file
 * cannot be read), AT_E_TOOBIG (logged) or AT_E_NOMEM. */
int sites_read(struct sites *out, const char *path, const char *profile, const char *const *taken, size_t ntaken)
	AT_MUST_CHECK;

void sites_clear(struct sites *s);

/*
 * When the certificate keyed by name (not_before, not_after) is renewed: at the lifetime rule's point
 * (at_renewal_time: a third of the lifetime left, half under ten days) plus a spread of up to a tenth of the
 * lifetime chosen by the name's hash, so that certificates issued together (100,000 on one day) come due over
 * days, not in one hour, and each name keeps its place in the spread from one renewal to the next.
 */
#include <time.h>
time_t sites_renew_at(const char *name, time_t not_before, time_t not_after);

#endif
