/* Fleet hosts behind a relay of their own, and their logs (see fleet_cut.h). */
#include "tests/harness/fleet_cut.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fleet_cut_add_host(struct fleet *f, struct tcp_relay *r, const char *name)
{
	struct shim_env *e = f->env;
	char saved[sizeof e->e_storage];
	const char *prefix = strrchr(f->spec, '/');
	if (prefix == NULL || tcp_relay_start(r, f->cl.client_port, ETCD_MEMBERS) != 0)
		return -1;
	/* fleet_host_start copies the env's variables as pointers and the server copies their text at its start:
	 * the env's own AUTOTLS_STORAGE is changed for that start alone. */
	memcpy(saved, e->e_storage, sizeof saved);
	snprintf(e->e_storage, sizeof e->e_storage, "AUTOTLS_STORAGE=etcd://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d%s",
		 r->port[0], r->port[1], r->port[2], prefix);
	int rc = fleet_add_host(f, name);
	memcpy(e->e_storage, saved, sizeof saved);
	return rc;
}

size_t fleet_cut_log_size(const char *path)
{
	size_t len = 0;
	char *text = harness_read_file(path, &len);
	free(text);
	return text ? len : 0;
}

int fleet_cut_loud_lines(const char *path, size_t from, size_t to, const char *what, int *with)
{
	size_t len = 0;
	char *text = harness_read_file(path, &len);
	int n = 0;
	*with = 0;
	if (text == NULL)
		return 0;
	if (to > len)
		to = len;
	for (size_t at = from; at < to;) {
		char *end = memchr(text + at, '\n', to - at);
		size_t ll = end ? (size_t)(end - (text + at)) : to - at;
		text[at + ll] = '\0';
		if (ll > 0 && strstr(text + at, "] debug: ") == NULL) {
			n++;
			*with += strstr(text + at, what) != NULL;
			fprintf(stderr, "    | %s\n", text + at);
		}
		at += ll + 1;
	}
	free(text);
	return n;
}

int fleet_cut_log_wait_after(const char *path, size_t from, const char *what, long timeout_ms)
{
	for (long w0 = harness_now_ms();; harness_sleep_ms(50)) {
		size_t len = 0;
		char *text = harness_read_file(path, &len);
		int has = text && len > from && strstr(text + from, what) != NULL;
		free(text);
		if (has)
			return 0;
		if (harness_now_ms() - w0 >= timeout_ms)
			return -1;
	}
}
