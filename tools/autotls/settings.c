/*
 * The command's settings: the preload's own reader (shim/config.c) over the environment, so that the command
 * and the server it looks at agree on the store, the CA and the names, with three differences a command needs:
 * --storage replaces AUTOTLS_STORAGE; AUTOTLS_LOG and AUTOTLS_LOG_LEVEL are not taken (they name the server's log,
 * which a command must not append to: its messages go to stderr); and AUTOTLS_DOMAINS may be unset (a command
 * that only reads the store needs no names), in which case the reader is given a placeholder name that nothing
 * uses (domains_set stays 0).
 */
#include "tools/autotls/cli.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char storage_abs[PATH_MAX];
static int storage_given;

static const char *cli_getenv(const char *name)
{
	const char *v;
	if (strcmp(name, "AUTOTLS_LOG") == 0 || strcmp(name, "AUTOTLS_LOG_LEVEL") == 0)
		return NULL;
	if (strcmp(name, "AUTOTLS_STORAGE") == 0 && storage_given)
		return storage_abs;
	v = getenv(name);
	if (strcmp(name, "AUTOTLS_DOMAINS") == 0 && (v == NULL || *v == '\0'))
		return "localhost"; /* the placeholder: see the top of this file */
	return v;
}

int cli_settings_read(struct cli_settings *s, const char *storage_opt)
{
	memset(s, 0, sizeof(*s));
	storage_given = storage_opt != NULL;
	if (storage_opt != NULL) {
		char cwd[PATH_MAX];
		int n;
		if (storage_opt[0] == '/' || at_store_is_remote(storage_opt)) /* a folder path, or etcd://... */
			n = snprintf(storage_abs, sizeof(storage_abs), "%s", storage_opt);
		else if (getcwd(cwd, sizeof(cwd)) != NULL)
			n = snprintf(storage_abs, sizeof(storage_abs), "%s/%s", cwd, storage_opt);
		else
			n = -1;
		if (n < 0 || (size_t)n >= sizeof(storage_abs) || storage_opt[0] == '\0') {
			fprintf(stderr, "autotls: --storage \"%.80s\" is not a usable folder path; give the store's "
					"folder (AUTOTLS_STORAGE of the server)\n", storage_opt);
			return AT_E_INVAL;
		}
	}
	const char *d = getenv("AUTOTLS_DOMAINS");
	s->domains_set = d != NULL && *d != '\0';
	const char *ca = getenv("AUTOTLS_CA");
	s->ca_set = ca != NULL && *ca != '\0';
	/* The reader's one-line errors go to stderr; warnings too, nothing chattier. */
	at_log_set_level(AT_LOG_WARN);
	int rc = shim_config_read(&s->cfg, cli_getenv);
	at_log_set_level(AT_LOG_WARN);
	if (rc != 0) {
		if (rc != AT_E_INVAL)
			fprintf(stderr, "autotls: cannot read the settings: %s\n", at_strerror(rc));
		shim_config_clear(&s->cfg);
		return AT_E_INVAL;
	}
	if (at_store_ca_component(s->ca_comp, sizeof(s->ca_comp), s->cfg.ca) != 0) {
		fprintf(stderr, "autotls: AUTOTLS_CA \"%.80s\" names no CA folder of the store; give the directory URL "
				"the server uses\n", s->cfg.ca);
		shim_config_clear(&s->cfg);
		return AT_E_INVAL;
	}
	return 0;
}

void cli_settings_clear(struct cli_settings *s)
{
	shim_config_clear(&s->cfg);
	memset(s, 0, sizeof(*s));
}

int cli_store_open(struct at_store **out, const struct cli_settings *s, char *why, size_t size)
{
	const char *dir = s->cfg.storage;
	struct stat st;
	/* at_store_open_file creates a missing store: a command that only looks must not, and "no such folder" is
	 * the likeliest mistake (the server's AUTOTLS_STORAGE not set here). */
	if (stat(dir, &st) != 0) {
		snprintf(why, size, "cannot read the store %s: %s; set AUTOTLS_STORAGE (or --storage) to the server's "
				    "store", dir, strerror(errno));
		return AT_E_NOTFOUND;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, size, "cannot read the store %s: not a folder; set AUTOTLS_STORAGE (or --storage) to the "
				    "server's store", dir);
		return AT_E_STORE;
	}
	if (access(dir, R_OK | X_OK) != 0) {
		snprintf(why, size, "cannot read the store %s: %s; run as root or as the server's user", dir,
			 strerror(errno));
		return AT_E_PERM;
	}
	int rc = at_store_open_file(out, dir);
	if (rc != 0)
		snprintf(why, size, "cannot open the store %s: %s; run as root or as the server's user", dir,
			 at_strerror(rc));
	return rc;
}
