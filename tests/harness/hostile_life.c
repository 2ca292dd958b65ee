/* A server's life under the shim against the scripted CA (see hostile_life.h). */
#include "tests/harness/hostile_life.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int hostile_shim_settings(struct hostile_shim_settings *s, char **envp, int *k, const char *name, const char *ca,
			  const char *roots, const char *store, const char *log)
{
	char lib[PATH_MAX], pre[2 * PATH_MAX];
	memset(s, 0, sizeof(*s));
	if (harness_shim_lib_path(lib, sizeof(lib)) != 0 || harness_preload_value(pre, sizeof(pre), lib, &s->sanitized) != 0)
		return -1;
	snprintf(s->e_pre, sizeof(s->e_pre), "LD_PRELOAD=%s", pre);
	snprintf(s->e_dom, sizeof(s->e_dom), "AUTOTLS_DOMAINS=%s", name);
	snprintf(s->e_ca, sizeof(s->e_ca), "AUTOTLS_CA=%s", ca);
	snprintf(s->e_roots, sizeof(s->e_roots), "AUTOTLS_CA_ROOTS=%s", roots);
	snprintf(s->e_store, sizeof(s->e_store), "AUTOTLS_STORAGE=%s", store);
	snprintf(s->e_log, sizeof(s->e_log), "AUTOTLS_LOG=%s", log);
	snprintf(s->e_http, sizeof(s->e_http), "AUTOTLS_HTTP_PORT=%d", harness_free_port());
	envp[(*k)++] = s->e_pre;
	envp[(*k)++] = s->e_dom;
	envp[(*k)++] = s->e_ca;
	envp[(*k)++] = s->e_roots;
	envp[(*k)++] = s->e_store;
	envp[(*k)++] = s->e_log;
	envp[(*k)++] = s->e_http;
	envp[(*k)++] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	envp[(*k)++] = "AUTOTLS_LOG_LEVEL=debug";
	envp[(*k)++] = "AUTOTLS_TEST_BACKOFF_SCALE=60";
	return 0;
}

int hostile_shim_settings_end(const struct hostile_shim_settings *s, char **envp, int k)
{
	if (s->sanitized) {
		envp[k++] = HARNESS_ASAN_OPTIONS;
		envp[k++] = HARNESS_UBSAN_OPTIONS;
	}
	envp[k] = NULL;
	return k;
}

int hostile_life_prepare(struct hostile_life *l, const char *base, const char *tag, const char *name, const char *ca,
			 const char *roots, const char *extra1, const char *extra2)
{
	int k = 0;
	memset(l, 0, sizeof(*l));
	snprintf(l->dir, sizeof(l->dir), "%s/%s", base, tag);
	snprintf(l->store, sizeof(l->store), "%s/store", l->dir);
	snprintf(l->log, sizeof(l->log), "%s/autotls.log", l->dir);
	if (mkdir(l->dir, 0755) != 0 || hostile_shim_settings(&l->set, l->envp, &k, name, ca, roots, l->store, l->log) != 0)
		return -1;
	if (extra1)
		l->envp[k++] = (char *)extra1;
	if (extra2)
		l->envp[k++] = (char *)extra2;
	hostile_shim_settings_end(&l->set, l->envp, k);
	return 0;
}

int hostile_life_start(struct hostile_life *l)
{
	l->port = harness_free_port();
	l->up = server_start(&l->srv, SERVER_S_SERVER, l->dir, l->port, l->envp) == 0;
	return l->up ? 0 : -1;
}

void hostile_life_stop(struct hostile_life *l)
{
	if (l->up)
		server_stop(&l->srv);
	l->up = 0;
}

long hostile_life_wait(struct hostile_life *l, const char *name, const char *root, const char *not_serial,
		       long limit_ms, struct tls_client_result *r)
{
	long t0 = harness_now_ms();
	tls_verify_quiet = 1;
	while (harness_now_ms() - t0 < limit_ms) {
		memset(r, 0, sizeof(*r));
		if (tls_client_connect(l->port, name, NULL, 0, root, NULL, r) == 0 &&
		    (not_serial == NULL || strcmp(r->serial, not_serial) != 0)) {
			tls_verify_quiet = 0;
			return harness_now_ms() - t0;
		}
		harness_sleep_ms(100);
	}
	tls_verify_quiet = 0;
	return -1;
}
