/*
 * The environment of a shim scenario (see shim_env.h).
 *
 * What it owns: the knobs for the next prepare; the folder, Pebble and the server of each env until
 * shim_env_stop.
 */
#include "tests/harness/shim_env.h"
#include "tests/harness/files.h"
#include "tests/harness/libcopy.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

long shim_env_validity_s;
const char *shim_env_domains;
int shim_env_pebble_tls_port, shim_env_pebble_http_port;
const char *shim_env_extra[4];
const struct pebble_opts *shim_env_pebble_opts;
const char *shim_env_dir_tag;
const char *shim_env_lib;
long shim_env_backoff_scale = 60;

int shim_env_prepare(struct shim_env *e, enum server_kind kind)
{
	const char *tmp = getenv("TMPDIR");
	struct pebble_opts po = {0};
	int k = 0;

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	harness_ignore_sigpipe();
	if (shim_env_lib != NULL)
		snprintf(e->lib, sizeof(e->lib), "%s", shim_env_lib);
	else if (harness_shim_lib_for_servers(e->lib, sizeof(e->lib)) != 0)
		return -1;
	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 150)
		tmp = "/tmp";
	snprintf(e->dir, sizeof(e->dir), "%s/autotls-%s-%s-XXXXXX", tmp, shim_env_dir_tag ? shim_env_dir_tag : "shim",
		 server_kind_name(kind));
	if (mkdtemp(e->dir) == NULL) {
		fprintf(stderr, "  shim: mkdtemp %s: %s\n", e->dir, strerror(errno));
		e->dir[0] = '\0';
		return -1;
	}
	chmod(e->dir, 0755);
	e->port = harness_free_port();
	if (shim_env_pebble_opts != NULL) {
		po = *shim_env_pebble_opts;
		po.tls_port = e->port;
	} else {
		po.tls_port = shim_env_pebble_tls_port ? shim_env_pebble_tls_port : e->port;
		po.http_port = shim_env_pebble_http_port;
		po.authz_reuse = -1;
		po.validity_s = shim_env_validity_s;
	}
	if (e->port <= 0 || pebble_start(&e->p, &po) != 0)
		return -1;
	e->pebble_started = 1;
	snprintf(e->store, sizeof(e->store), "%s/store", e->dir);
	snprintf(e->log, sizeof(e->log), "%s/autotls.log", e->dir);
	snprintf(e->ca_roots, sizeof(e->ca_roots), "%s/ca-api-root.pem", e->dir);
	/* Pebble's API certificate is the harness's and survives pebble_restart: this copy stays right. */
	if (harness_copy_file(e->p.api_root_file, e->ca_roots, 0644) != 0)
		return -1;
	char pre[2 * PATH_MAX];
	int sanitized = 0;
	if (harness_preload_value(pre, sizeof(pre), e->lib, &sanitized) != 0)
		return -1;
	snprintf(e->e_preload, sizeof(e->e_preload), "LD_PRELOAD=%s", pre);
	if (sanitized) {
		snprintf(e->e_asan, sizeof(e->e_asan), "%s", HARNESS_ASAN_OPTIONS);
		snprintf(e->e_ubsan, sizeof(e->e_ubsan), "%s", HARNESS_UBSAN_OPTIONS);
	}
	snprintf(e->e_domains, sizeof(e->e_domains), "AUTOTLS_DOMAINS=%s",
		 shim_env_domains ? shim_env_domains : SHIM_NAME);
	snprintf(e->e_ca, sizeof(e->e_ca), "AUTOTLS_CA=%s", e->p.directory_url);
	snprintf(e->e_roots, sizeof(e->e_roots), "AUTOTLS_CA_ROOTS=%s", e->ca_roots);
	snprintf(e->e_storage, sizeof(e->e_storage), "AUTOTLS_STORAGE=%s", e->store);
	snprintf(e->e_log, sizeof(e->e_log), "AUTOTLS_LOG=%s", e->log);
	snprintf(e->e_level, sizeof(e->e_level), "AUTOTLS_LOG_LEVEL=debug");
	/* HTTP-01 is enabled by default (port free): its responder must be where Pebble validates, so that
	 * whichever challenge the random order takes first succeeds and a name costs exactly one order. */
	snprintf(e->e_http, sizeof(e->e_http), "AUTOTLS_HTTP_PORT=%d", e->p.http_port);
	e->envp[k++] = e->e_preload;
	e->envp[k++] = e->e_domains;
	e->envp[k++] = e->e_ca;
	e->envp[k++] = e->e_roots;
	e->envp[k++] = e->e_storage;
	e->envp[k++] = e->e_log;
	e->envp[k++] = e->e_level;
	e->envp[k++] = e->e_http;
	if (e->e_asan[0]) {
		e->envp[k++] = e->e_asan;
		e->envp[k++] = e->e_ubsan;
	}
	for (int x = 0; x < 4; x++)
		if (shim_env_extra[x])
			e->envp[k++] = (char *)shim_env_extra[x];
	e->envp[k] = NULL;
	return 0;
}

int shim_env_prepare_fault(struct shim_env *e, enum server_kind kind, const struct pebble_opts *opts)
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
	if (shim_env_backoff_scale > 0) {
		snprintf(e->e_backoff, sizeof(e->e_backoff), "AUTOTLS_TEST_BACKOFF_SCALE=%ld", shim_env_backoff_scale);
		e->envp[k++] = e->e_backoff;
	}
	e->envp[k] = NULL;
	return 0;
}

int shim_env_server_start(struct shim_env *e)
{
	return server_start(&e->srv, e->kind, e->dir, e->port, e->envp);
}

int shim_env_start(struct shim_env *e, enum server_kind kind)
{
	if (shim_env_prepare(e, kind) != 0)
		return -1;
	return shim_env_server_start(e);
}

void shim_env_stop(struct shim_env *e)
{
	server_stop(&e->srv);
	if (e->pebble_started)
		pebble_stop(&e->p);
	e->pebble_started = 0;
	if (e->dir[0] != '\0')
		harness_remove_or_keep(e->dir);
	e->dir[0] = '\0';
}

void shim_env_dump(const struct shim_env *e)
{
	server_print_logs(&e->srv);
	if (harness_print_tail(NULL, e->log, 4000) != 0)
		fprintf(stderr, "  (no shim log at %s)\n", e->log);
}

void shim_env_finish(struct shim_env *e)
{
	if (test_failed_now)
		shim_env_dump(e);
	shim_env_stop(e);
}

int shim_env_setup_failed(struct shim_env *e, const char *file)
{
	printf("FAIL %s:setup\n", file);
	shim_env_dump(e);
	shim_env_stop(e);
	return 1;
}

int shim_env_exit(struct shim_env *e)
{
	if (test_failed_total)
		shim_env_dump(e);
	shim_env_stop(e);
	return TEST_EXIT();
}
