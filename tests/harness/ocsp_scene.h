/*
 * An OCSP scene for the stapling tests (test_630, test_631): a real `openssl ocsp -index` responder on
 * 127.0.0.1 that signs as the scripted CA (tests/harness/hostile_ca.h, whose good leaves then name it in their
 * AIA and are written to its index as valid), a client that asks for status as `openssl s_client -status` does,
 * the check of a stapled response as a client makes it, the waits built on them, the shim's environment (with a
 * hook that records events) for openssl s_server under the shim, and the scene's start and end. OpenSSL 3.0's
 * responder reads its index once, so harness_ocsp_follow starts it again whenever the index changed. The
 * responder takes a port and no address and binds every interface: run it inside the test's own network
 * namespace (tests/harness/netns.h; harness_ocsp_scene_open makes it).
 */
#ifndef AUTOTLS_TESTS_HARNESS_OCSP_SCENE_H
#define AUTOTLS_TESTS_HARNESS_OCSP_SCENE_H

#include "tests/harness/hostile_ca.h"
#include "tests/harness/hostile_life.h"

#include <limits.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <sys/types.h>

struct harness_ocsp {
	struct hostile_ca *hc; /* borrowed */
	char index_path[160], ca_key[160], log[160], url[64];
	int port;
	pid_t pid;
	long index_seen; /* the index's size when the responder last started */
};

/* Sets hc to name a responder (base: a folder for the index, the CA's key and the responder's log) and starts
 * it (-nmin 1: each response valid a minute). 0 or -1. */
int harness_ocsp_start(struct harness_ocsp *o, struct hostile_ca *hc, const char *base);
/* Starts the responder again when its index changed since. */
void harness_ocsp_follow(struct harness_ocsp *o);
void harness_ocsp_stop(struct harness_ocsp *o);
/* Writes serial (as harness_serial_hex gives it) into the index as revoked now (keyCompromise). 0 or -1. */
int harness_ocsp_revoke(struct harness_ocsp *o, const char *serial);

/* What a status-asking client got: the served leaf's serial and the stapled response (NULL: none). */
struct harness_ocsp_seen {
	char serial[80];
	unsigned char *ocsp;
	long ocsp_len;
	X509 *leaf, *issuer;
};

/* One handshake with 127.0.0.1:port for sni asking for status, verified against root (a PEM file) when given.
 * 0 or -1. */
int harness_ocsp_handshake(int port, const char *sni, const char *root, struct harness_ocsp_seen *out);
/* The stapled response's status for the served leaf, checked as a client would: signed by the CA of ca_file
 * (the only anchor), for this certificate, within its validity. V_OCSP_CERTSTATUS_*, or -1 when it is not that. */
int harness_ocsp_status(const struct harness_ocsp_seen *s, const char *ca_file);
void harness_ocsp_seen_clear(struct harness_ocsp_seen *s);
/* Waits until sni on 127.0.0.1:port is served by o's CA with a good staple (a serial other than not, when given),
 * following the index (harness_ocsp_follow) and trying every poll_ms. ms it took, or -1; *s filled on success. */
long harness_ocsp_wait_stapled(struct harness_ocsp *o, int port, const char *sni, const char *not, long limit_ms,
			       long poll_ms, struct harness_ocsp_seen *s);
/* A well-formed response for a host's own staple (s_server -status_file): the responder's answer about a serial it
 * does not know, written (DER) to path. 0 or -1. */
int harness_ocsp_host_staple(const struct harness_ocsp *o, const char *path);

/* The environment of the server under the shim in the scene. */
struct harness_ocsp_shim {
	char store[128], events[128], hook[160], e_hook[200];
	struct hostile_shim_settings set;
	char *env[28]; /* NULL-terminated after n entries; room for two more */
	int n;
};
/* Writes the hook <base>/hook.sh (each event appended to <base>/events as "event=E|names=N|error=X|") and fills
 * sh->env: hostile_shim_settings for name with o's CA, the store <base>/store and the log <base>/autotls.log;
 * the hook; then extra (NULL or NULL-terminated "NAME=value", up to 8, borrowed) and the
 * sanitizers' options when the preload is sanitized. 0 or -1. */
int harness_ocsp_shim_env(struct harness_ocsp_shim *sh, const struct harness_ocsp *o, const char *base, const char *name,
			  const char *const *extra);
/* How often needle stands in the hook's events file (0 when there is none). */
int harness_ocsp_events(const struct harness_ocsp_shim *sh, const char *needle);
/* openssl s_server -www under env (NULL-terminated, borrowed) with cert and key and, when status_file is given,
 * its own staple (-status_file), on a free port of 127.0.0.1 (into *port); its output in <base>/s_server.out.
 * 0 once it accepts (up to 15 s), or -1. *pid: the server, -1 when it did not start. */
int harness_ocsp_server_start(char *const *env, const char *base, const char *cert, const char *key,
			      const char *status_file, int *port, pid_t *pid);

/* The scene's start, before anything else in main: a network namespace of the test's own, SIGPIPE ignored, a
 * fresh folder /tmp/autotls-<tag>-XXXXXX (into base, cap bytes; world-traversable) and the scripted CA in it.
 * 0 or -1 (why printed). */
int harness_ocsp_scene_open(char *base, size_t cap, const char *tag, struct hostile_ca **hc);
/* Its end, from main: when the set-up failed (!setup_ok) "cannot set up the OCSP responder or the server"; when
 * it failed or a check did, the tails of <base>/autotls.log (tail_bytes) and of the responder's log; then the
 * server (pid > 0), the responder and the CA stopped and the folder removed (harness_remove_or_keep). The exit
 * code: TEST_EXIT()'s, 1 when the set-up failed. */
int harness_ocsp_scene_close(const char *base, struct hostile_ca *hc, struct harness_ocsp *o, pid_t server,
			     int setup_ok, size_t tail_bytes);

#endif
