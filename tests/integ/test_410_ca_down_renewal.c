/*
 * The CA goes down between issuance and renewal: Pebble issues 20-second certificates (renewal due ~10 s before
 * expiry); right after the first issuance Pebble is killed. A client loops verified handshakes (a new
 * connection each time, trusting the first Pebble's root) while the renewal fails on the back-off
 * (AUTOTLS_TEST_BACKOFF_SCALE=60: 1 s, 10 s): none fails and the serial does not change. Pebble is then restarted
 * (same ports, new roots: the client trusts both root files from then on) and the renewal completes on the
 * back-off, before the old certificate expires, with a certificate that verifies against the new root only.
 */
#include "tests/harness/files.h"
#include "tests/harness/proc.h"
#include "tests/harness/records.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Concatenates two PEM files into out (a trust bundle for a client that must accept either root). 0 or -1. */
static int concat_files(const char *out, const char *a, const char *b)
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

static void renewal_waits_for_the_ca(void)
{
	struct shim_env env;
	struct pebble_opts po = {.validity_s = 20, .authz_reuse = -1};
	struct at_cert_record rec;
	struct tls_client_result r;
	char root_old[400], root_new[400], bundle[400], s1[80], s2[80];

	int ok = shim_env_prepare_fault(&env, SERVER_S_SERVER, &po) == 0 && shim_env_server_start(&env) == 0;
	CHECK(ok);
	if (!ok)
		goto out;
	long ms = shim_wait_serial(&env, env.p.issuing_root_file, NULL, SHIM_ISSUE_TIMEOUT_MS, s1, sizeof(s1));
	CHECK(ms >= 0);
	if (ms < 0)
		goto out;
	snprintf(root_old, sizeof(root_old), "%s/root-old.pem", env.dir);
	snprintf(root_new, sizeof(root_new), "%s/root-new.pem", env.dir);
	snprintf(bundle, sizeof(bundle), "%s/roots-both.pem", env.dir);
	CHECK_OK(harness_copy_file(env.p.issuing_root_file, root_old, 0644));
	time_t not_after;
	CHECK_OK(harness_record_not_after(env.store, env.p.directory_url, SHIM_NAME, &not_after));
	CHECK_OK(pebble_kill(&env.p));
	fprintf(stderr, "  first certificate %s after %ld ms; Pebble killed %ld s before it expires\n", s1, ms,
		(long)(not_after - time(NULL)));

	/* The outage: until the renewal has failed twice (the next try is then 10 s away). */
	int handshakes = 0, failed = 0, changed = 0;
	while (shim_log_count(&env, "error:", "next try in") < 2 && time(NULL) < not_after - 2) {
		handshakes++;
		if (shim_try(&env, root_old, &r) != 0)
			failed++;
		else if (strcmp(r.serial, s1) != 0)
			changed++;
		harness_sleep_ms(50);
	}
	fprintf(stderr, "  outage: %d handshakes, %d failed, %d with another serial; %ld s left\n", handshakes,
		failed, changed, (long)(not_after - time(NULL)));
	shim_log_print(&env, "error:", 6);
	CHECK_INT(shim_log_count(&env, "error:", "next try in"), >=, 2);
	CHECK_INT(failed, ==, 0);
	CHECK_INT(changed, ==, 0);

	long t_up = harness_now_ms();
	REQUIRE(pebble_restart(&env.p) == 0);
	CHECK_OK(harness_copy_file(env.p.issuing_root_file, root_new, 0644));
	CHECK_OK(concat_files(bundle, root_old, root_new));
	char *pem_old = harness_read_file(root_old, NULL), *pem_new = harness_read_file(root_new, NULL);
	CHECK(pem_old != NULL && pem_new != NULL && strcmp(pem_old, pem_new) != 0); /* Pebble's roots did change */
	free(pem_old);
	free(pem_new);

	/* Back: the client trusts both roots until the new certificate comes. */
	int after = 0, after_failed = 0;
	s2[0] = '\0';
	while (harness_now_ms() - t_up < 40000) {
		after++;
		if (shim_try(&env, bundle, &r) != 0) {
			after_failed++;
		} else if (strcmp(r.serial, s1) != 0) {
			snprintf(s2, sizeof(s2), "%s", r.serial);
			break;
		}
		harness_sleep_ms(50);
	}
	long t_renewed = harness_now_ms() - t_up;
	fprintf(stderr, "  renewed %ld ms after Pebble came back (%ld s before the old certificate expired); %d "
			"handshakes, %d failed\n",
		t_renewed, (long)(not_after - time(NULL)), after, after_failed);
	CHECK(s2[0] != '\0');
	CHECK_INT(after_failed, ==, 0);
	CHECK(time(NULL) <= not_after);
	CHECK(shim_log_has(&env, "renewed the certificate for " SHIM_NAME));
	/* The new certificate chains to the new root and not to the old one. */
	CHECK_OK(shim_try(&env, root_new, &r));
	CHECK_STR(r.serial, s2);
	CHECK_INT(shim_try(&env, root_old, &r), ==, -1);
	CHECK_OK(harness_record_load_dir(env.store, env.p.directory_url, SHIM_NAME, &rec));
	CHECK(rec.info.not_after > not_after);
	at_cert_record_clear(&rec);
	shim_check_log(&env);
out:
	shim_env_finish(&env);
}

int main(void)
{
	RUN(renewal_waits_for_the_ca);
	return TEST_EXIT();
}
