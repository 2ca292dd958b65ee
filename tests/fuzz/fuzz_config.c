/*
 * libFuzzer: the shim's configuration (shim/config.c), read from an environment the input describes: lines
 * "NAME=value" (the first '=' splits; later lines for a name are ignored, as with a real environment). Two
 * values are tamed so the fuzzer stays in its sandbox: an absolute AUTOTLS_LOG path becomes /dev/null (the
 * file sink creates the file) and "syslog" becomes "stderr" (no flood into the host's log). Logging stays at
 * error level and goes to stderr, which fuzz_config.options closes once for the whole run (-close_fd_mask=2:
 * libFuzzer sends its own and the sanitizers' reports to a copy of stderr, so a crash is still reported).
 */
#include "shim/config.h"
#include "store/name.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"
#include "util/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_VARS 32

static char *names[MAX_VARS], *values[MAX_VARS];
static size_t nvars;

static const char *fuzz_getenv(const char *name)
{
	for (size_t i = 0; i < nvars; i++)
		if (strcmp(names[i], name) == 0) {
			if (strcmp(name, "AUTOTLS_LOG") == 0) {
				if (values[i][0] == '/')
					return "/dev/null";
				if (strcmp(values[i], "syslog") == 0)
					return "stderr";
			}
			return values[i];
		}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_config cfg;
	char *copy = malloc(size + 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	nvars = 0;
	/* strtok_r would merge empty lines; split by hand so "A=\n" stays an empty value */
	for (char *line = copy; line && nvars < MAX_VARS;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *eq = strchr(line, '=');
		if (eq) {
			*eq = '\0';
			names[nvars] = line;
			values[nvars] = eq + 1;
			nvars++;
		}
		line = nl ? nl + 1 : NULL;
	}
	at_log_set_level(AT_LOG_ERROR);
	int rc = shim_config_read(&cfg, fuzz_getenv);
	FUZZ_CHECK(rc == 0 || rc == AT_E_INVAL || rc == AT_E_NOTFOUND);
	if (rc == 0) {
		FUZZ_CHECK(cfg.active == 1);
		FUZZ_CHECK((cfg.ndomains >= 1 || cfg.sites != NULL) && cfg.ndomains <= SHIM_MAX_DOMAINS);
		for (size_t i = 0; i < cfg.ndomains; i++) {
			char again[AT_NAME_MAX + 1];
			FUZZ_CHECK(cfg.domains[i] != NULL);
			FUZZ_CHECK(at_name_normalize(again, cfg.domains[i], strlen(cfg.domains[i])) == 0);
			FUZZ_CHECK(strcmp(again, cfg.domains[i]) == 0);
			for (size_t k = 0; k < i; k++)
				FUZZ_CHECK(strcmp(cfg.domains[k], cfg.domains[i]) != 0); /* duplicates folded */
		}
		FUZZ_CHECK(cfg.ca != NULL);
		FUZZ_CHECK(strncmp(cfg.ca, "https://", 8) == 0);
		/* a folder, or an etcd store (issue 11) whose host-local files go to an absolute AUTOTLS_STATE_DIR */
		FUZZ_CHECK(cfg.storage != NULL && (cfg.storage[0] == '/' || strncmp(cfg.storage, "etcd://", 7) == 0 ||
						   strncmp(cfg.storage, "etcds://", 8) == 0));
		FUZZ_CHECK(cfg.state_dir != NULL && cfg.state_dir[0] == '/');
		FUZZ_CHECK(cfg.ca_roots == NULL || cfg.ca_roots[0] == '/');
		FUZZ_CHECK(cfg.email == NULL || strchr(cfg.email, '@') != NULL);
		/* AUTOTLS_CA's list: 1..SHIM_MAX_CAS URLs, the first is ca, no repeats; EAB both or neither, only for a CA
		 * of the list; a profile is a token */
		FUZZ_CHECK(cfg.ncas >= 1 && cfg.ncas <= SHIM_MAX_CAS && strcmp(cfg.cas[0], cfg.ca) == 0);
		for (size_t i = 0; i < SHIM_MAX_CAS; i++) {
			FUZZ_CHECK((cfg.eab_kid[i] == NULL) == (cfg.eab_hmac_key[i] == NULL));
			FUZZ_CHECK(i < cfg.ncas || (cfg.cas[i] == NULL && cfg.eab_kid[i] == NULL));
			for (size_t k = 0; i < cfg.ncas && k < i; k++)
				FUZZ_CHECK(strcmp(cfg.cas[k], cfg.cas[i]) != 0);
		}
		FUZZ_CHECK(cfg.profile == NULL || (cfg.profile[0] != '\0' && strlen(cfg.profile) <= 64 &&
						   strpbrk(cfg.profile, " ,/\n") == NULL));
		shim_config_clear(&cfg);
	} else {
		FUZZ_CHECK(cfg.ndomains == 0 && cfg.ca == NULL && cfg.storage == NULL);
	}
	/* back to the quiet sink for the next input (the configuration may have chosen another) */
	FUZZ_CHECK(at_log_open(AT_LOG_SINK_STDERR, NULL, AT_LOG_ERROR) == 0);
	free(copy);
	return 0;
}
