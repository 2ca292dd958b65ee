/* Handshakes to a shim scenario's server (see shim_client.h). */
#include "tests/harness/shim_client.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/proc.h"

#include <stdio.h>
#include <string.h>

int shim_try_root(const struct shim_env *e, const char *name, const char *alpn, int version, const char *root_file,
		  struct tls_client_result *res)
{
	int saved = log_silence_begin();
	int rc = tls_client_connect(e->port, name, alpn, version, root_file, name, res);
	log_silence_end(saved);
	return rc;
}

int shim_try_verified(const struct shim_env *e, const char *name, const char *alpn, int version,
		      struct tls_client_result *res)
{
	return shim_try_root(e, name, alpn, version, e->p.issuing_root_file, res);
}

int shim_try(const struct shim_env *e, const char *root_file, struct tls_client_result *res)
{
	memset(res, 0, sizeof(*res));
	return shim_try_root(e, SHIM_NAME, NULL, 0, root_file, res);
}

int shim_count_verified(const struct shim_env *e, int n)
{
	struct tls_client_result r;
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += shim_try_verified(e, SHIM_NAME, NULL, 0, &r) == 0;
	return ok;
}

long shim_wait_verified(const struct shim_env *e, const char *name, long timeout_ms)
{
	long start = harness_now_ms();
	struct tls_client_result res;

	for (;;) {
		if (shim_try_verified(e, name, NULL, 0, &res) == 0)
			return harness_now_ms() - start;
		if (harness_now_ms() - start > timeout_ms)
			break;
		harness_sleep_ms(SHIM_POLL_MS);
	}
	/* Once more with the client's reasons shown (res is filled only when a handshake completed). */
	memset(&res, 0, sizeof(res));
	if (tls_client_connect(e->port, name, NULL, 0, e->p.issuing_root_file, name, &res) == 0)
		return harness_now_ms() - start;
	fprintf(stderr, "  shim: %s not verified within %ld ms (last served: subject %s, issuer %s)\n", name,
		timeout_ms, res.subject[0] ? res.subject : "none, no handshake", res.issuer);
	return -1;
}

long shim_wait_serial(const struct shim_env *e, const char *root_file, const char *old, long timeout_ms, char *out,
		      size_t cap)
{
	long start = harness_now_ms();
	struct tls_client_result r;

	for (;;) {
		if (shim_try(e, root_file, &r) == 0 && (old == NULL || strcmp(r.serial, old) != 0)) {
			snprintf(out, cap, "%s", r.serial);
			return harness_now_ms() - start;
		}
		if (harness_now_ms() - start > timeout_ms)
			return -1;
		harness_sleep_ms(SHIM_POLL_MS);
	}
}
