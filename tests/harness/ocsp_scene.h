/*
 * An OCSP scene for the stapling tests (test_630, test_631): a real `openssl ocsp -index` responder on
 * 127.0.0.1 that signs as the scripted CA (tests/harness/hostile_ca.h, whose good leaves then name it in their
 * AIA and are written to its index as valid), a client that asks for status as `openssl s_client -status` does,
 * and the check of a stapled response as a client makes it. OpenSSL 3.0's responder reads its index once, so
 * harness_ocsp_follow starts it again whenever the index changed. The responder takes a port and no address and
 * binds every interface: run it inside the test's own network namespace (tests/harness/netns.h).
 */
#ifndef AUTOTLS_TESTS_HARNESS_OCSP_SCENE_H
#define AUTOTLS_TESTS_HARNESS_OCSP_SCENE_H

#include "tests/harness/hostile_ca.h"

#include <openssl/x509.h>
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

#endif
