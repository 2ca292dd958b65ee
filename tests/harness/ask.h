/*
 * An on-demand ask URL for tests (AUTOTLS_ASK): a small python3 HTTP server on 127.0.0.1 that answers
 * GET <path>?domain=<name> with 200 when the name starts with "yes" and 403 otherwise, and appends every name it
 * was asked about to a log, one a line. Our child; it dies with the test (PR_SET_PDEATHSIG).
 */
#ifndef AUTOTLS_TESTS_HARNESS_ASK_H
#define AUTOTLS_TESTS_HARNESS_ASK_H

#include <sys/types.h>

struct harness_ask {
	pid_t pid;
	int port;
	char dir[64];   /* its folder: the script and the log */
	char log[128];  /* the names asked about */
	char env[96];   /* "AUTOTLS_ASK=http://127.0.0.1:<port>/check" */
};

/* Starts it and waits (up to 5 s) until it accepts connections. 0, or -1 with nothing left running. */
int harness_ask_start(struct harness_ask *a);

/* How many times name was asked about so far. */
int harness_ask_count(const struct harness_ask *a, const char *name);

/* Stops it and removes its folder. Safe on a struct whose start failed. */
void harness_ask_stop(struct harness_ask *a);

#endif
