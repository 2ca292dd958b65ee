/*
 * autotls renew [--force] [--timeout SECONDS] [NAME...]: asks the running manager of the store (its control
 * channel) for a round now and prints what came of it: the serial now served, whether it is new, or the error
 * and what the CA said. Without --force a certificate that is not due is kept (the manager's own rule); with it,
 * a new order. When no server under the preload runs on the store, the command orders itself (renew_local.c,
 * HTTP-01 or DNS-01 only) and prints the new serial; a manager that runs is always asked, never bypassed.
 */
#include "tools/autotls/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_S 120

/* Reads --timeout's value; 0 when it is no number of seconds (1 to 3600). */
long cli_timeout_arg(const char *v)
{
	char *end;
	long t = strtol(v, &end, 10);
	return (*v && *end == '\0' && t >= 1 && t <= 3600) ? t : 0;
}

/* Prints the manager's answer; the exit code. */
int cli_print_answer(const cJSON *r, const char *what)
{
	const char *serial = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "serial"));
	const char *revoked = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "revoked"));
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "error"));
	const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "detail"));
	const cJSON *na = cJSON_GetObjectItemCaseSensitive(r, "not_after");
	char t[32];
	cli_time(t, sizeof(t), cJSON_IsNumber(na) ? (time_t)na->valuedouble : 0);
	if (revoked)
		printf("revoked serial %s\n", revoked);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
		fprintf(stderr, "autotls %s: %s%s%s\n", what, err ? err : "failed", detail ? "; " : "",
			detail ? detail : "");
		return CLI_FAIL;
	}
	printf("serving serial %s (not after %s)%s%s\n", serial ? serial : "?", t, detail ? ": " : "",
	       detail ? detail : "");
	return CLI_OK;
}

struct local_args {
	int argc;
	char **argv;
	int force;
};

/* No server to ask: the command orders itself, the names being the arguments left after the options (moved to
 * the front of argv, which is ours). */
static int renew_without_manager(const struct cli_settings *s, void *arg)
{
	struct local_args *la = arg;
	size_t n = 0;
	for (int i = 0; i < la->argc; i++) {
		if (strcmp(la->argv[i], "--timeout") == 0)
			i++;
		else if (la->argv[i][0] != '-')
			la->argv[n++] = la->argv[i];
	}
	return cli_renew_local(s, la->argv, n, la->force);
}

int cli_renew(int argc, char **argv, const char *storage_opt)
{
	int force = 0;
	long timeout_s = DEFAULT_TIMEOUT_S;
	cJSON *req = cJSON_CreateObject(), *names = req ? cJSON_AddArrayToObject(req, "names") : NULL;
	if (names == NULL || !cJSON_AddStringToObject(req, "cmd", "renew")) {
		cJSON_Delete(req);
		fprintf(stderr, "autotls renew: out of memory\n");
		return CLI_FAIL;
	}
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0) {
			force = 1;
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc && cli_timeout_arg(argv[i + 1]) > 0) {
			timeout_s = cli_timeout_arg(argv[++i]);
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "autotls renew: unknown option %.40s; the options are --force and --timeout "
					"SECONDS (1 to 3600)\n", argv[i]);
			cJSON_Delete(req);
			return CLI_USAGE;
		} else if (!cJSON_AddItemToArray(names, cJSON_CreateString(argv[i]))) {
			cJSON_Delete(req);
			return CLI_FAIL;
		}
	}
	if (!cJSON_AddBoolToObject(req, "force", force)) {
		cJSON_Delete(req);
		return CLI_FAIL;
	}
	struct local_args la = { argc, argv, force };
	return cli_control_command(req, "renew", storage_opt, timeout_s, renew_without_manager, &la);
}
