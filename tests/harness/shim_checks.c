/*
 * The checks shim scenarios make (see shim_checks.h).
 *
 * What it owns: the counters of one store walk (nftw passes no context), reset by each shim_check_store_perms.
 */
#include "tests/harness/shim_checks.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/test.h"

#include <ctype.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void shim_check_versions(const struct shim_env *e)
{
	struct tls_client_result r12, r13;

	memset(&r12, 0, sizeof(r12));
	memset(&r13, 0, sizeof(r13));
	CHECK_OK(tls_client_connect(e->port, SHIM_NAME, NULL, TLS1_2_VERSION, e->p.issuing_root_file, NULL, &r12));
	CHECK_STR(r12.version, "TLSv1.2");
	CHECK_OK(tls_client_connect(e->port, SHIM_NAME, NULL, TLS1_3_VERSION, e->p.issuing_root_file, NULL, &r13));
	CHECK_STR(r13.version, "TLSv1.3");
	CHECK(strcmp(r12.serial, e->srv.serial) != 0);
	CHECK_STR(r12.serial, r13.serial);
}

void shim_check_untouched(const struct shim_env *e, const char *sni, const char *cn, const char *serial)
{
	struct tls_client_result r;
	char subject[128];

	memset(&r, 0, sizeof(r));
	snprintf(subject, sizeof(subject), "/CN=%s", cn);
	CHECK_OK(tls_client_connect(e->port, sni, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.subject, subject);
	CHECK_STR(r.serial, serial);
}

/* ---- the store's permissions ---- */

static int perm_bad, perm_keys, perm_dirs;

static int perm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DP) {
		perm_dirs++;
		if ((st->st_mode & 07777) != 0700) {
			fprintf(stderr, "  store: folder %s is %04o, not 0700\n", path, (unsigned)(st->st_mode & 07777));
			perm_bad++;
		}
		return 0;
	}
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	int is_key = 0;
	for (const char *c = base; *c && !is_key; c++)
		is_key = strncasecmp(c, "key", 3) == 0;
	if (!is_key) {
		char *text = harness_read_file(path, NULL);
		is_key = text != NULL && strstr(text, "PRIVATE KEY") != NULL;
		free(text);
	}
	if (is_key) {
		perm_keys++;
		if ((st->st_mode & 07777) != 0600) {
			fprintf(stderr, "  store: key file %s is %04o, not 0600\n", path, (unsigned)(st->st_mode & 07777));
			perm_bad++;
		}
	}
	return 0;
}

void shim_check_store_perms(const struct shim_env *e)
{
	perm_bad = perm_keys = perm_dirs = 0;
	CHECK_OK(nftw(e->store, perm_entry, 16, FTW_PHYS));
	CHECK_INT(perm_dirs, >=, 1);
	CHECK_INT(perm_keys, >=, 1);
	CHECK_INT(perm_bad, ==, 0);
}

/* ---- the log's hygiene ---- */

static int b64_char(int c)
{
	return isalnum(c) || c == '+' || c == '/' || c == '_' || c == '-';
}

/*
 * 1 when line holds a run of more than 60 base64 / base64url characters: a PEM body line, a JWS, a DER blob.
 * Words are split at white space, quotes, brackets and '='; a word with "://" (a URL) or starting with '/' (a
 * path) is skipped, and so is a run of hex digits alone (a SHA-256 fingerprint is fine to log).
 */
static int line_has_blob(const char *line, size_t len)
{
	static const char delim[] = " \t\r\"'`,;()[]{}<>=";
	size_t i = 0;

	while (i < len) {
		size_t start, end;
		while (i < len && strchr(delim, line[i]) != NULL)
			i++;
		start = i;
		while (i < len && strchr(delim, line[i]) == NULL)
			i++;
		end = i;
		if (end == start || line[start] == '/')
			continue;
		int url = 0;
		for (size_t j = start; j + 2 < end && !url; j++)
			url = line[j] == ':' && line[j + 1] == '/' && line[j + 2] == '/';
		if (url)
			continue;
		for (size_t j = start; j < end;) {
			size_t run = 0, hex = 1;
			while (j < end && b64_char((unsigned char)line[j])) {
				hex &= isxdigit((unsigned char)line[j]) != 0;
				run++;
				j++;
			}
			if (run > 60 && !hex)
				return 1;
			if (run == 0)
				j++;
		}
	}
	return 0;
}

void shim_check_log(const struct shim_env *e)
{
	size_t len = 0;
	char *text = harness_read_file(e->log, &len);
	int blobs = 0;

	CHECK(text != NULL);
	if (text == NULL)
		return;
	CHECK(strstr(text, "PRIVATE KEY") == NULL);
	for (const char *line = text; line < text + len;) {
		const char *nl = memchr(line, '\n', (size_t)(text + len - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(text + len - line);
		if (line_has_blob(line, n)) {
			if (blobs++ < 3)
				fprintf(stderr, "  log: a base64 run over 60 characters: %.*s\n", (int)(n > 200 ? 200 : n),
					line);
		}
		line += n + 1;
	}
	CHECK_INT(blobs, ==, 0);
	free(text);
}

/* ---- a restart on the same store ---- */

void shim_check_restart(struct shim_env *e)
{
	int orders = pebble_count_orders(&e->p);
	long t0, elapsed;

	CHECK_INT(orders, >=, 1);
	server_stop(&e->srv);
	t0 = harness_now_ms();
	if (shim_env_server_start(e) != 0) {
		CHECK(!"the server did not start again");
		return;
	}
	elapsed = shim_wait_verified(e, SHIM_NAME, SHIM_RESTART_TIMEOUT_MS);
	CHECK(elapsed >= 0);
	if (elapsed >= 0) {
		elapsed = harness_now_ms() - t0;
		CHECK_INT(elapsed, <=, SHIM_RESTART_TIMEOUT_MS);
	}
	harness_sleep_ms(1000);
	CHECK_INT(pebble_count_orders(&e->p), ==, orders);
}
