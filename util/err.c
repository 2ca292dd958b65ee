#include "util/err.h"

enum at_err_band at_err_band(int err)
{
	if (err >= 0)
		return AT_BAND_OK;
	if (err > -100)
		return AT_BAND_USAGE;
	if (err > -200)
		return AT_BAND_IO;
	if (err > -300)
		return AT_BAND_ACME;
	if (err > -400)
		return AT_BAND_CRYPTO;
	return AT_BAND_STORE;
}

const char *at_strerror(int err)
{
	switch (err) {
	case AT_OK: return "success";
	case AT_E_INVAL: return "invalid argument";
	case AT_E_NOMEM: return "out of memory";
	case AT_E_RANGE: return "value out of range";
	case AT_E_STATE: return "wrong state";
	case AT_E_UNSUPPORTED: return "not supported";
	case AT_E_IO: return "I/O error";
	case AT_E_NET: return "network error";
	case AT_E_TIMEOUT: return "timed out";
	case AT_E_TOOBIG: return "response too large";
	case AT_E_HTTP: return "unexpected HTTP status";
	case AT_E_PARSE: return "malformed data";
	case AT_E_REDIRECT: return "refused redirect";
	case AT_E_ACME: return "ACME problem";
	case AT_E_BADNONCE: return "ACME badNonce";
	case AT_E_RATELIMITED: return "ACME rate limited";
	case AT_E_NO_ACCOUNT: return "ACME account does not exist";
	case AT_E_AUTHZ_INVALID: return "ACME authorization invalid";
	case AT_E_ORDER_INVALID: return "ACME order invalid";
	case AT_E_EAB_REQUIRED: return "ACME external account binding required";
	case AT_E_ALREADY_REVOKED: return "ACME certificate already revoked";
	case AT_E_NO_SOLVER: return "no solver for any offered challenge";
	case AT_E_REJECTED_ID: return "ACME identifier rejected";
	case AT_E_BACKOFF: return "backing off: not tried before the next try";
	case AT_E_CHALLENGE: return "challenge solver failed";
	case AT_E_CRYPTO: return "crypto error";
	case AT_E_KEY_MISMATCH: return "key does not match certificate";
	case AT_E_CHAIN: return "certificate chain does not verify";
	case AT_E_NAMES: return "certificate names do not match";
	case AT_E_EXPIRED: return "certificate expired";
	case AT_E_STORE: return "store error";
	case AT_E_NOTFOUND: return "not found";
	case AT_E_LOCKED: return "locked by another holder";
	case AT_E_BADNAME: return "name refused";
	case AT_E_PERM: return "permission denied";
	case AT_E_NOSPACE: return "no space left";
	default: return "unknown error";
	}
}
