/*
 * TSIG (RFC 8945): the HMAC that signs an RFC 2136 update with a key shared with the server, and the check of
 * the server's signed answer. Only what the update needs: HMAC-SHA256 and HMAC-SHA512, one message each way (no
 * multi-message TCP streams), the key's name and algorithm written uncompressed.
 *
 * The secret is borrowed and never copied, logged or put in an error text; MACs computed here are cleansed
 * after use.
 */
#ifndef AUTOTLS_DNS_TSIG_H
#define AUTOTLS_DNS_TSIG_H

#include "util/err.h"

#include <stddef.h>
#include <stdint.h>

#define AT_TSIG_FUDGE 300
#define AT_TSIG_MAC_MAX 64 /* HMAC-SHA512 */
#define AT_TSIG_BADSIG 16
#define AT_TSIG_BADKEY 17
#define AT_TSIG_BADTIME 18

enum at_tsig_alg {
	AT_TSIG_HMAC_SHA256 = 1,
	AT_TSIG_HMAC_SHA512 = 2,
};

struct at_tsig_key {
	enum at_tsig_alg alg;
	const char *name;             /* the key's name, e.g. "acme-key." or "acme-key" (case does not matter) */
	const unsigned char *secret;  /* the shared secret's bytes (decoded from base64) */
	size_t secret_len;
};

/* What the TSIG RR of an answer said (at_tsig_verify): its error field (16 BADSIG, 17 BADKEY, 18 BADTIME; 0 when
 * none), whether its MAC verified with our key, and, when it did, whether its time was outside its fudge from
 * our clock. */
struct at_tsig_check {
	int error;
	int signed_ok;
	int local_badtime;
};

/* 1 when key has a name, a known algorithm and a secret. */
int at_tsig_key_ok(const struct at_tsig_key *key);

/*
 * Signs the message in msg (*len bytes, cap in all) with key at time_signed (seconds since 1970): appends the
 * TSIG RR (fudge AT_TSIG_FUDGE, original id = the message's id) and adds one to ARCOUNT. mac (AT_TSIG_MAC_MAX
 * bytes) gets the MAC and *maclen its size, which the answer's MAC chains in. Returns 0, AT_E_BADNAME (a bad key
 * name), AT_E_RANGE (cap too small), AT_E_INVAL, AT_E_CRYPTO.
 */
int at_tsig_sign(unsigned char *msg, size_t cap, size_t *len, const struct at_tsig_key *key, uint64_t time_signed,
		 unsigned char *mac, size_t *maclen) AT_MUST_CHECK;

/*
 * Checks the TSIG RR at msg[at], the last record of the answer msg (len bytes, ARCOUNT counting the TSIG RR), to
 * a request whose MAC was req_mac (req_maclen bytes), at our time now, and fills *out. The RR must be owned by
 * key's name, uncompressed, of class ANY and TTL 0, its RDATA must fill it and end the message, and its original
 * id must be the message's. The MAC is checked only when the RR names key's algorithm and carries a MAC of its
 * size (an error answer may be unsigned). Returns 0 (see *out for the verdict), AT_E_PARSE or AT_E_CRYPTO (the
 * HMAC could not be computed). Borrows everything.
 */
int at_tsig_verify(const unsigned char *msg, size_t len, size_t at, const struct at_tsig_key *key,
		   const unsigned char *req_mac, size_t req_maclen, uint64_t now, struct at_tsig_check *out)
	AT_MUST_CHECK;

#endif
