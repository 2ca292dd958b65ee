/*
 * One status convention for the whole core (STYLE.md "Errors and memory").
 *
 * Internal functions return int: 0 on success or a negative code from this enum. Codes are grouped in bands of
 * 100 so that a caller can classify a failure without listing codes: at_err_band(e) tells usage, transport, ACME
 * problem, crypto or store. Rich detail (an ACME problem document, Retry-After) travels in result structs, never
 * in the code itself.
 */
#ifndef AUTOTLS_UTIL_ERR_H
#define AUTOTLS_UTIL_ERR_H

#define AT_MUST_CHECK __attribute__((warn_unused_result))

enum at_err {
	AT_OK = 0,

	/* usage: the caller passed something wrong */
	AT_E_INVAL = -1,
	AT_E_NOMEM = -2,
	AT_E_RANGE = -3,
	AT_E_STATE = -4,
	AT_E_UNSUPPORTED = -5,

	/* transport and I/O: talking to the CA or the disk failed */
	AT_E_IO = -100,
	AT_E_NET = -101,
	AT_E_TIMEOUT = -102,
	AT_E_TOOBIG = -103,
	AT_E_HTTP = -104,       /* unexpected HTTP status without a problem document */
	AT_E_PARSE = -105,      /* a response or record did not parse */
	AT_E_REDIRECT = -106,

	/* ACME problems (RFC 8555 section 6.7); the problem document holds the detail */
	AT_E_ACME = -200,       /* any other problem type */
	AT_E_BADNONCE = -201,
	AT_E_RATELIMITED = -202,
	AT_E_NO_ACCOUNT = -203, /* accountDoesNotExist */
	AT_E_AUTHZ_INVALID = -204,
	AT_E_ORDER_INVALID = -205,
	AT_E_EAB_REQUIRED = -206,
	AT_E_ALREADY_REVOKED = -207,
	AT_E_NO_SOLVER = -208,  /* no offered challenge has a solver */
	AT_E_REJECTED_ID = -209,
	AT_E_CHALLENGE = -210,  /* a solver failed to present */
	AT_E_BACKOFF = -211,    /* not tried: our own backoff or the CA's limits say later (see the Retry-After) */

	/* crypto: keys, signatures, certificates */
	AT_E_CRYPTO = -300,
	AT_E_KEY_MISMATCH = -301,
	AT_E_CHAIN = -302,
	AT_E_NAMES = -303,
	AT_E_EXPIRED = -304,

	/* store */
	AT_E_STORE = -400,
	AT_E_NOTFOUND = -401,
	AT_E_LOCKED = -402,
	AT_E_BADNAME = -403,
	AT_E_PERM = -404,
	AT_E_NOSPACE = -405,
};

enum at_err_band {
	AT_BAND_OK = 0,
	AT_BAND_USAGE = 1,
	AT_BAND_IO = 2,
	AT_BAND_ACME = 3,
	AT_BAND_CRYPTO = 4,
	AT_BAND_STORE = 5,
};

/* Which band a code belongs to. */
enum at_err_band at_err_band(int err);

/* A short static English text for a code; never NULL. */
const char *at_strerror(int err);

#endif
