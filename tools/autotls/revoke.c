/*
 * autotls revoke NAME [--reason REASON] [--timeout SECONDS]: the running manager revokes the certificate it
 * serves for NAME at the CA (RFC 8555 section 7.6, with the account that ordered it) and orders its replacement
 * at once (a new key); prints the serial revoked and the one now served. The reasons are RFC 5280 section
 * 5.3.1's, by name or number; the default is unspecified (0).
 */
#include "tools/autotls/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TIMEOUT_S 120

static const struct {
	const char *name;
	int code;
} reasons[] = {
	{ "unspecified", 0 }, { "keyCompromise", 1 }, { "cACompromise", 2 }, { "affiliationChanged", 3 },
	{ "superseded", 4 }, { "cessationOfOperation", 5 }, { "certificateHold", 6 }, { "privilegeWithdrawn", 9 },
	{ "aACompromise", 10 },
};

static int reason_code(const char *v)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		char num[8];
		snprintf(num, sizeof(num), "%d", reasons[i].code);
		if (strcasecmp(v, reasons[i].name) == 0 || strcmp(v, num) == 0)
			return reasons[i].code;
	}
	return -1;
}

int cli_revoke(int argc, char **argv, const char *storage_opt)
{
	const char *name = NULL;
	int reason = 0;
	long timeout_s = DEFAULT_TIMEOUT_S;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc) {
			reason = reason_code(argv[++i]);
			if (reason < 0) {
				fprintf(stderr, "autotls revoke: unknown reason %.40s; one of unspecified, keyCompromise, "
						"affiliationChanged, superseded, cessationOfOperation (RFC 5280 5.3.1)\n",
					argv[i]);
				return CLI_USAGE;
			}
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc && cli_timeout_arg(argv[i + 1]) > 0) {
			timeout_s = cli_timeout_arg(argv[++i]);
		} else if (argv[i][0] == '-' || name != NULL) {
			fprintf(stderr, "autotls revoke: unexpected %.40s; usage: autotls revoke NAME [--reason REASON] "
					"[--timeout SECONDS]\n", argv[i]);
			return CLI_USAGE;
		} else {
			name = argv[i];
		}
	}
	if (name == NULL) {
		fprintf(stderr, "autotls revoke: which name? usage: autotls revoke NAME [--reason REASON]\n");
		return CLI_USAGE;
	}
	cJSON *req = cJSON_CreateObject();
	if (req && !(cJSON_AddStringToObject(req, "cmd", "revoke") && cJSON_AddStringToObject(req, "name", name) &&
		     cJSON_AddNumberToObject(req, "reason", reason))) {
		cJSON_Delete(req);
		req = NULL;
	}
	return cli_control_command(req, "revoke", storage_opt, timeout_s, NULL, NULL);
}
