/*
 * Shared set-up and checks for the fault scenarios (test_4NN): the shim scenarios' environment (shim_env.h) with
 * Pebble started from options the test chooses (nonce rejection, short validity), the server started apart
 * (so Pebble can be killed first), and AUTOTLS_TEST_BACKOFF_SCALE in the server's environment so that the
 * manager's retries (1 min, 10 min, 100 min, daily) come within seconds. Plus: handshakes against a chosen
 * root file, counting and waiting for log lines, and loading the store's certificate records as the engine does.
 */
#ifndef AUTOTLS_TESTS_INTEG_FAULT_ENV_H
#define AUTOTLS_TESTS_INTEG_FAULT_ENV_H

#include "tests/integ/shim_env.h"
#include "store/certs.h"
#include "store/store.h"

#include <signal.h>
#include <sys/wait.h>

/* AUTOTLS_TEST_BACKOFF_SCALE for the next fault_env_prepare (0: not set): a divisor for the retry delays. */
static long fault_backoff_scale = 60;
static char fault_e_backoff[64];

/*
 * What shim_env_start does, but Pebble from opts (NULL: defaults; tls_port is always the server's port) and the
 * server not started: call fault_server_start. 0 or -1 (and prints why); on -1 call shim_env_stop all the same.
 */
static inline int fault_env_prepare(struct shim_env *e, enum server_kind kind, const struct pebble_opts *opts)
{
	struct pebble_opts po = {0};
	int k = 0, rc;

	if (opts != NULL)
		po = *opts;
	else
		po.authz_reuse = -1;
	shim_env_pebble_opts = &po;
	shim_env_dir_tag = "fault";
	rc = shim_env_prepare(e, kind);
	shim_env_pebble_opts = NULL;
	shim_env_dir_tag = NULL;
	if (rc != 0)
		return -1;
	while (e->envp[k] != NULL)
		k++;
	if (fault_backoff_scale > 0) {
		snprintf(fault_e_backoff, sizeof(fault_e_backoff), "AUTOTLS_TEST_BACKOFF_SCALE=%ld", fault_backoff_scale);
		e->envp[k++] = fault_e_backoff;
	}
	e->envp[k] = NULL;
	return 0;
}

static inline int fault_server_start(struct shim_env *e)
{
	return server_start(&e->srv, e->kind, e->dir, e->port, e->envp);
}

/* One handshake for SHIM_NAME verified against root_file (NULL: none), the client's chatter silenced. */
static inline int fault_try(const struct shim_env *e, const char *root_file, struct tls_client_result *res)
{
	memset(res, 0, sizeof(*res));
	return shim_try_root(e, SHIM_NAME, NULL, 0, root_file, res);
}

/* Polls every 50 ms until a handshake verified against root_file shows a serial other than old (old may be
 * "" or NULL); the elapsed ms (serial in out), or -1. */
static inline long fault_wait_serial(const struct shim_env *e, const char *root_file, const char *old,
				     long timeout_ms, char *out, size_t cap)
{
	long start = shim_now_ms();
	struct tls_client_result r;

	for (;;) {
		if (fault_try(e, root_file, &r) == 0 && (old == NULL || strcmp(r.serial, old) != 0)) {
			snprintf(out, cap, "%s", r.serial);
			return shim_now_ms() - start;
		}
		if (shim_now_ms() - start > timeout_ms)
			return -1;
		shim_sleep_ms(SHIM_POLL_MS);
	}
}

/* Lines of the shim's log holding a and (when not NULL) b. */
static inline int fault_log_count(const struct shim_env *e, const char *a, const char *b)
{
	char *text = harness_read_file(e->log, NULL);
	int n = 0;

	if (text == NULL)
		return 0;
	for (char *line = text; *line != '\0';) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL))
			n++;
		if (!end)
			break;
		line = end + 1;
	}
	free(text);
	return n;
}

/* Waits (polling every 20 ms) until the log has at least n lines with a (and b); elapsed ms or -1. */
static inline long fault_log_wait(const struct shim_env *e, const char *a, const char *b, int n, long timeout_ms)
{
	long start = shim_now_ms();
	while (fault_log_count(e, a, b) < n) {
		if (shim_now_ms() - start > timeout_ms)
			return -1;
		shim_sleep_ms(20);
	}
	return shim_now_ms() - start;
}

/* Prints the log lines holding a (at most max), indented: what the report shows. */
static inline void fault_log_print(const struct shim_env *e, const char *a, int max)
{
	char *text = harness_read_file(e->log, NULL);
	int n = 0;

	if (text == NULL)
		return;
	for (char *line = text; *line != '\0' && n < max;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		if (strstr(line, a) != NULL) {
			fprintf(stderr, "    | %s\n", line);
			n++;
		}
		if (!end)
			break;
		line = end + 1;
	}
	free(text);
}

/* Loads the live record for name from the store at dir (the CA by its directory URL), as the engine does. */
static inline int fault_record_load(const char *dir, const char *directory_url, const char *name,
				    struct at_cert_record *rec)
{
	struct at_store *s = NULL;
	char ca[256];
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (at_store_ca_component(ca, sizeof(ca), directory_url) != 0)
		return -1;
	rc = at_store_open_file(&s, dir);
	if (rc != 0)
		return rc;
	rc = at_cert_record_load(s, ca, name, rec);
	at_store_close(s);
	return rc;
}

/* Concatenates two PEM files into out (a trust bundle for a client that must accept either root). */
static inline int fault_concat(const char *out, const char *a, const char *b)
{
	size_t la = 0, lb = 0;
	char *ta = harness_read_file(a, &la), *tb = harness_read_file(b, &lb);
	FILE *f = ta && tb ? fopen(out, "we") : NULL;
	int ret = -1;

	if (f && fwrite(ta, 1, la, f) == la && fwrite(tb, 1, lb, f) == lb)
		ret = 0;
	if (f && fclose(f) != 0)
		ret = -1;
	free(ta);
	free(tb);
	return ret;
}

#endif
