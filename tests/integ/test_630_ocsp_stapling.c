/*
 * Issue 14, acceptance 5: OCSP stapling (shim/manager/staple.c, shim/preload/hooks.c). Pebble's certificates
 * name no OCSP responder, so the project's scripted CA (tests/harness/hostile_ca.h) issues leaves that name one
 * (hostile_ca_set_ocsp: an AIA OCSP URL, each leaf written to an openssl-ca index as valid), answered by a real
 * `openssl ocsp -index` responder on 127.0.0.1 that signs as that CA (-nmin 1: each response valid a minute,
 * refreshed at half its validity divided by AUTOTLS_TEST_BACKOFF_SCALE, so every 5 s). OpenSSL 3.0's responder
 * reads its index once, so the test starts it again whenever the index changes (tests/harness/ocsp_scene.h).
 * openssl s_server runs under the shim with its own stapling on for its own certificate (-status_file: a fixed
 * response it sends itself). A client asking for status (SSL_set_tlsext_status_type, as `s_client -status`):
 *   - for the managed name gets a stapled response that verifies against the scripted CA only, says good, and is
 *     for the very certificate served; the response is kept in the store beside the certificate record;
 *   - for a name the shim does not manage gets the host's own response, byte for byte (its stapling untouched);
 * then the test writes the served serial into the index as revoked: a new certificate (a new serial) is served
 * within a minute, the hook (AUTOTLS_HOOK) saw `revoked` for the name, and the new certificate is stapled good.
 * Last, the server started again on the same store with AUTOTLS_OCSP=off: the certificate, no staple.
 * Everything runs in a network namespace of the test's own (tests/harness/netns.h): OpenSSL 3.0's responder
 * takes a port and no address, and binds every interface.
 */
#include "tests/harness/certgen.h"
#include "tests/harness/hostile_ca.h"
#include "tests/harness/ocsp_scene.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <openssl/ocsp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "ocsp.hostile.test"
#define ISSUE_LIMIT_MS 30000
#define REVOKE_LIMIT_MS 60000 /* the acceptance: a new certificate within a minute */

static char base[64], host_der[128];
static struct hostile_ca *hc;
static struct harness_ocsp oc;
static struct harness_ocsp_shim sh;
static int tls_port;
static pid_t server = -1;

/* Waits until the managed name is served by the scripted CA with a good staple (serial differing from not, when
 * given). ms it took, or -1; *s filled on success. */
static long wait_stapled(const char *not, long limit_ms, struct harness_ocsp_seen *s)
{
	return harness_ocsp_wait_stapled(&oc, tls_port, NAME, not, limit_ms, 200, s);
}

static void stapled_then_revoked(void)
{
	struct harness_ocsp_seen s1, s2, other;
	char served1[80];

	long ms = wait_stapled(NULL, ISSUE_LIMIT_MS, &s1);
	fprintf(stderr, "  managed name served with a good staple after %ld ms (serial %s)\n", ms, s1.serial);
	REQUIRE(ms >= 0);
	CHECK(s1.ocsp_len > 0);
	snprintf(served1, sizeof(served1), "%s", s1.serial);
	harness_ocsp_seen_clear(&s1);

	/* Kept beside the certificate record in the store. */
	char cmd[256], line[512] = "";
	snprintf(cmd, sizeof(cmd), "find %s/certificates -name ocsp -type f", sh.store);
	FILE *p = popen(cmd, "r");
	REQUIRE(p != NULL);
	int stored = fgets(line, sizeof(line), p) != NULL && strstr(line, "/" NAME "/ocsp") != NULL;
	pclose(p);
	CHECK(stored);

	/* A name the shim does not manage: the host's own response, byte for byte. */
	size_t host_len = 0;
	char *host = harness_read_file(host_der, &host_len);
	REQUIRE(host != NULL && host_len > 0);
	REQUIRE(harness_ocsp_handshake(tls_port, "unmanaged.example.test", NULL, &other) == 0);
	CHECK(strcmp(other.serial, served1) != 0);
	CHECK(other.ocsp_len == (long)host_len && memcmp(other.ocsp, host, host_len) == 0);
	fprintf(stderr, "  unmanaged name: the host's own staple (%ld bytes, same as its -status_file: %s)\n",
		other.ocsp_len, other.ocsp_len == (long)host_len && memcmp(other.ocsp, host, host_len) == 0 ? "yes" : "no");
	harness_ocsp_seen_clear(&other);
	free(host);

	/* Revoked at the responder: a new certificate within a minute, `revoked` seen by the hook. */
	REQUIRE(harness_ocsp_revoke(&oc, served1) == 0);
	long t0 = harness_now_ms();
	harness_ocsp_follow(&oc);
	long t_new = -1;
	while (harness_now_ms() - t0 < REVOKE_LIMIT_MS) {
		harness_ocsp_follow(&oc);
		if (harness_ocsp_handshake(tls_port, NAME, hostile_ca_ca_file(hc), &s2) == 0) {
			int fresh = strcmp(s2.serial, served1) != 0;
			harness_ocsp_seen_clear(&s2);
			if (fresh) {
				t_new = harness_now_ms() - t0;
				break;
			}
		}
		harness_sleep_ms(200);
	}
	fprintf(stderr, "  revoked at the responder: a new certificate served after %ld ms\n", t_new);
	CHECK(t_new >= 0 && t_new <= REVOKE_LIMIT_MS);
	CHECK_INT(harness_ocsp_events(&sh, "event=revoked|names=" NAME "|"), ==, 1);
	/* The new certificate is stapled too (its first fetch may find the responder restarting: the retry). */
	ms = wait_stapled(served1, 30000, &s2);
	fprintf(stderr, "  the new certificate (serial %s) stapled good %ld ms later\n", s2.serial, ms);
	CHECK(ms >= 0);
	harness_ocsp_seen_clear(&s2);
}

static char host_cert[128], host_key[128];

/* s_server under the shim, with its own certificate and its own staple (-status_file), plus extra (NULL: none). */
static int server_up(const char *extra)
{
	sh.env[sh.n] = (char *)extra;
	sh.env[sh.n + 1] = NULL;
	return harness_ocsp_server_start(sh.env, base, host_cert, host_key, host_der, &tls_port, &server);
}

/* AUTOTLS_OCSP=off, the same store (a good response stored beside the certificate): the managed certificate is
 * served, and nothing is stapled for it; the host's own staple stays. */
static void off_staples_nothing(void)
{
	struct harness_ocsp_seen s;
	harness_stop_child(server, SIGTERM, 5000, 1);
	server = -1;
	REQUIRE(server_up("AUTOTLS_OCSP=off") == 0);
	long t0 = harness_now_ms();
	int served = 0;
	while (!served && harness_now_ms() - t0 < ISSUE_LIMIT_MS) {
		served = harness_ocsp_handshake(tls_port, NAME, hostile_ca_ca_file(hc), &s) == 0;
		if (!served)
			harness_sleep_ms(100);
		else
			harness_ocsp_seen_clear(&s);
	}
	REQUIRE(served);
	long served_ms = harness_now_ms() - t0;
	harness_sleep_ms(1500); /* a staple, were there one, comes within milliseconds of the certificate */
	REQUIRE(harness_ocsp_handshake(tls_port, NAME, hostile_ca_ca_file(hc), &s) == 0);
	fprintf(stderr, "  AUTOTLS_OCSP=off: the stored certificate served after %ld ms, stapled bytes %ld\n",
		served_ms, s.ocsp_len);
	CHECK(s.ocsp == NULL);
	harness_ocsp_seen_clear(&s);
	size_t host_len = 0;
	char *host = harness_read_file(host_der, &host_len);
	REQUIRE(harness_ocsp_handshake(tls_port, "unmanaged.example.test", NULL, &s) == 0);
	CHECK(host != NULL && s.ocsp_len == (long)host_len && memcmp(s.ocsp, host, host_len) == 0);
	harness_ocsp_seen_clear(&s);
	free(host);
}

static int setup(void)
{
	snprintf(host_der, sizeof(host_der), "%s/host-ocsp.der", base);
	snprintf(host_cert, sizeof(host_cert), "%s/host.pem", base);
	snprintf(host_key, sizeof(host_key), "%s/host.key", base);
	if (harness_ocsp_start(&oc, hc, base) != 0)
		return -1;
	/* The host's own certificate and its own staple: any well-formed response (here the responder's answer
	 * about a serial it does not know), which s_server sends for its certificate. */
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	if (harness_cert_make(&x, &k, "host's own", "unmanaged.example.test", NULL, 0, NULL, NULL, 1) != 0 ||
	    harness_write_cert_pem(host_cert, x) != 0 || harness_write_key_pem(host_key, k) != 0)
		return -1;
	X509_free(x);
	EVP_PKEY_free(k);
	if (harness_ocsp_host_staple(&oc, host_der) != 0)
		return -1;
	if (harness_ocsp_shim_env(&sh, &oc, base, NAME, NULL) != 0)
		return -1;
	return server_up(NULL);
}

int main(void)
{
	if (harness_ocsp_scene_open(base, sizeof(base), "t630", &hc) != 0)
		return 1;
	int ok = setup() == 0;
	if (ok)
		RUN(stapled_then_revoked);
	if (ok)
		RUN(off_staples_nothing);
	return harness_ocsp_scene_close(base, hc, &oc, server, ok, 6000);
}
