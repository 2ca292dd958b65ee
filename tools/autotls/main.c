/*
 * autotls: the operators' command (man page: man/autotls.1). Reads the command line, handles the options every
 * subcommand shares (--storage DIR, --version, --help) and hands the rest to the subcommand's file.
 */
#include "tools/autotls/cli.h"

#include <stdio.h>
#include <string.h>

#ifndef AT_VERSION
#error "AT_VERSION is not defined: build with the Makefile (it passes the file VERSION)"
#endif

static int usage(FILE *f, int code)
{
	fprintf(f, "usage: autotls [--storage DIR] status [--json]\n"
		   "       autotls [--storage DIR] check [--warn-days N] [--crit-days N] [--warn-seconds N] "
		   "[--crit-seconds N]\n"
		   "       autotls enable SERVICE -d NAMES [--email ADDR] [--ca URL] [--set AUTOTLS_NAME=VALUE]... "
		   "[--root DIR]\n"
		   "       autotls disable SERVICE [--root DIR]\n"
		   "       autotls doctor PID | BINARY | SERVICE [--root DIR]\n"
		   "       autotls [--storage DIR] import CERT KEY [--chain FILE] [--force]\n"
		   "       autotls [--storage DIR] import --certbot [DIR] | --lego [DIR] [--force]\n"
		   "       autotls [--storage DIR] renew [--force] [--timeout SECONDS] [NAME...]\n"
		   "       autotls [--storage DIR] revoke NAME [--reason REASON] [--timeout SECONDS]\n"
		   "       autotls --version\n"
		   "Settings come from the same AUTOTLS_* variables as the preload; see autotls(1).\n");
	return code;
}

int main(int argc, char **argv)
{
	const char *storage = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("autotls %s\n", AT_VERSION);
			return CLI_OK;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			return usage(stdout, CLI_OK);
		} else if (strcmp(argv[i], "--storage") == 0 && i + 1 < argc) {
			storage = argv[++i];
		} else if (strncmp(argv[i], "--storage=", 10) == 0) {
			storage = argv[i] + 10;
		} else {
			fprintf(stderr, "autotls: unknown option %s; see autotls --help\n", argv[i]);
			return CLI_USAGE;
		}
	}
	if (i == argc)
		return usage(stderr, CLI_USAGE);
	if (strcmp(argv[i], "status") == 0)
		return cli_status(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "check") == 0)
		return cli_check(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "enable") == 0)
		return cli_enable(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "disable") == 0)
		return cli_disable(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "doctor") == 0)
		return cli_doctor(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "import") == 0)
		return cli_import(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "renew") == 0)
		return cli_renew(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "revoke") == 0)
		return cli_revoke(argc - i - 1, argv + i + 1, storage);
	if (strcmp(argv[i], "version") == 0) {
		printf("autotls %s\n", AT_VERSION);
		return CLI_OK;
	}
	fprintf(stderr, "autotls: unknown command \"%.40s\"; the commands are status, check, renew, revoke, enable, disable, doctor, import (autotls --help)\n",
		argv[i]);
	return CLI_USAGE;
}
