/* A server's life under the shim against the scripted CA (see hostile_life.h). */
#include "tests/harness/hostile_life.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int hostile_life_prepare(struct hostile_life *l, const char *base, const char *tag, const char *name, const char *ca,
			 const char *roots, const char *extra1, const char *extra2)
{
	char lib[PATH_MAX], pre[2 * PATH_MAX];
	int sanitized = 0, k = 0;
	memset(l, 0, sizeof(*l));
	snprintf(l->dir, sizeof(l->dir), "%s/%s", base, tag);
	snprintf(l->store, sizeof(l->store), "%s/store", l->dir);
	snprintf(l->log, sizeof(l->log), "%s/autotls.log", l->dir);
	if (mkdir(l->dir, 0755) != 0 || harness_shim_lib_path(lib, sizeof(lib)) != 0 ||
	    harness_preload_value(pre, sizeof(pre), lib, &sanitized) != 0)
		return -1;
	snprintf(l->e_pre, sizeof(l->e_pre), "LD_PRELOAD=%s", pre);
	snprintf(l->e_dom, sizeof(l->e_dom), "AUTOTLS_DOMAINS=%s", name);
	snprintf(l->e_ca, sizeof(l->e_ca), "AUTOTLS_CA=%s", ca);
	snprintf(l->e_roots, sizeof(l->e_roots), "AUTOTLS_CA_ROOTS=%s", roots);
	snprintf(l->e_store, sizeof(l->e_store), "AUTOTLS_STORAGE=%s", l->store);
	snprintf(l->e_log, sizeof(l->e_log), "AUTOTLS_LOG=%s", l->log);
	snprintf(l->e_http, sizeof(l->e_http), "AUTOTLS_HTTP_PORT=%d", harness_free_port());
	l->envp[k++] = l->e_pre;
	l->envp[k++] = l->e_dom;
	l->envp[k++] = l->e_ca;
	l->envp[k++] = l->e_roots;
	l->envp[k++] = l->e_store;
	l->envp[k++] = l->e_log;
	l->envp[k++] = l->e_http;
	l->envp[k++] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	l->envp[k++] = "AUTOTLS_LOG_LEVEL=debug";
	l->envp[k++] = "AUTOTLS_TEST_BACKOFF_SCALE=60";
	if (extra1)
		l->envp[k++] = (char *)extra1;
	if (extra2)
		l->envp[k++] = (char *)extra2;
	if (sanitized) {
		l->envp[k++] = HARNESS_ASAN_OPTIONS;
		l->envp[k++] = HARNESS_UBSAN_OPTIONS;
	}
	l->envp[k] = NULL;
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
