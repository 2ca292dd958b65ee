/*
 * OCSP for stapling (RFC 6960, RFC 6066 section 8): the responder URL a certificate names (its Authority
 * Information Access), one request for one certificate over the HTTP seam, and the check of a response against
 * the certificate's issuer. The manager (shim/manager/staple.c) calls it on its own thread; nothing here runs on
 * a handshake. No nonce: a stapled response is shared by every handshake until its refresh (RFC 6960 4.4.1 is
 * optional, and CAs that pre-sign responses ignore it).
 */
#ifndef AUTOTLS_ACME_OCSP_H
#define AUTOTLS_ACME_OCSP_H

#include "acme/http.h"
#include "util/err.h"

#include <stddef.h>
#include <time.h>

#define AT_OCSP_MAX_BODY (64 * 1024) /* a response for one certificate is a few hundred bytes to a few KiB */

enum at_ocsp_cert_status { AT_OCSP_GOOD = 0, AT_OCSP_REVOKED = 1, AT_OCSP_UNKNOWN = 2 };

struct at_ocsp_status {
	enum at_ocsp_cert_status status;
	time_t this_update;
	time_t next_update; /* 0: the responder gave none (newer information is always available, RFC 6960 2.4) */
	time_t revoked_at;  /* AT_OCSP_REVOKED only */
	int reason;         /* AT_OCSP_REVOKED only: the CRL reason code, -1 when none was given */
};

/* One parse of the chain for both of the below: *url as at_ocsp_url (AT_E_NOTFOUND when the leaf names no
 * responder) and *must_staple as at_ocsp_must_staple, set whenever the chain parses. */
int at_ocsp_leaf_info(char **url, int *must_staple, const char *chain_pem, size_t chain_len) AT_MUST_CHECK;

/* The first OCSP responder URL of the leaf of chain_pem (AIA id-ad-ocsp), http or https: *out new, caller frees.
 * AT_E_NOTFOUND when the certificate names none, AT_E_PARSE when the chain does not parse. */
int at_ocsp_url(char **out, const char *chain_pem, size_t chain_len) AT_MUST_CHECK;

/* A quick filter before at_ocsp_url and at_ocsp_must_staple, for 100,000 certificates at a time: 0 when the
 * leaf's DER holds neither the id-ad-ocsp nor the TLS Feature OID (it names no responder and is not
 * must-staple: nothing more to look at), 1 when it may (or cannot be told without parsing). A base64 decode and
 * a search, no X.509 parse. */
int at_ocsp_worth_a_look(const char *chain_pem, size_t chain_len);

/* Whether the leaf of chain_pem carries the TLS Feature extension with status_request ("must-staple", RFC 7633):
 * *out 1 or 0. 0, or AT_E_PARSE when the chain does not parse. */
int at_ocsp_must_staple(int *out, const char *chain_pem, size_t chain_len) AT_MUST_CHECK;

/* Checks der as a response for the leaf of chain_pem, whose issuer is the chain's second certificate: a
 * successful response, signed by the issuer or by a responder the issuer delegated to (id-kp-OCSPSigning), a
 * SingleResponse for exactly this certificate, thisUpdate not in the future and nextUpdate not past (five
 * minutes of clock skew allowed). *st filled on 0. AT_E_PARSE (not a response, or a responder error status),
 * AT_E_CHAIN (no issuer in the chain, or a signature that does not verify), AT_E_NOTFOUND (no answer for this
 * certificate), AT_E_EXPIRED (outside its validity). */
int at_ocsp_check(struct at_ocsp_status *st, const unsigned char *der, size_t len, const char *chain_pem,
		  size_t chain_len) AT_MUST_CHECK;

/* Asks url for the status of the leaf of chain_pem (HTTP POST, application/ocsp-request) and checks the answer
 * (at_ocsp_check). *der new (caller frees), *len its length, *st filled on 0. Errors: at_ocsp_check's, the
 * seam's (AT_E_NET, AT_E_TIMEOUT, AT_E_TOOBIG), AT_E_HTTP for a status other than 200. */
int at_ocsp_fetch(unsigned char **der, size_t *len, struct at_ocsp_status *st, const struct at_http_ops *http,
		  const char *url, const char *chain_pem, size_t chain_len, long timeout_ms) AT_MUST_CHECK;

#endif
