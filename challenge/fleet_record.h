/*
 * The records of distributed challenge solving in a store that several hosts share (an etcd fleet:
 * shim/manager/fleet_http01.c, fleet_dns01.c): their keys, and the checks a host makes of a record it did not
 * write (the store is input from elsewhere: capped, every character checked, the record's name bound to its
 * content). Pure functions: no store, no I/O.
 *
 * - HTTP-01: challenges/http-01/<hex SHA-256 of the token>, the value the key authorization "<token>.<thumbprint>"
 *   (RFC 8555 sections 8.1 and 8.3; a store component is [a-z0-9._-], a token base64url, so the hash names it).
 * - DNS-01: challenges/dns-01/<hex SHA-256 of the value>, the value "<name>\n<TXT value>", the record's name
 *   "_acme-challenge.<domain>" and its base64url value (section 8.4).
 */
#ifndef AUTOTLS_CHALLENGE_FLEET_RECORD_H
#define AUTOTLS_CHALLENGE_FLEET_RECORD_H

#include "util/err.h"

#include <stddef.h>

#define AT_FLEET_KEY_MAX 128          /* "challenges/<kind>/" and 64 hex digits, with room */
#define AT_FLEET_HTTP01_VALUE_MAX 512 /* a key authorization: a token (43 at Let's Encrypt) and a thumbprint (43) */
#define AT_FLEET_DNS01_NAME_MAX 253
#define AT_FLEET_DNS01_VALUE_MAX 64   /* base64url of a SHA-256 is 43 */
#define AT_FLEET_DNS01_RECORD_MAX (AT_FLEET_DNS01_NAME_MAX + 1 + AT_FLEET_DNS01_VALUE_MAX)

/* challenges/<kind>/<lowercase hex SHA-256 of data[0..len)> into out (size bytes); kind is "http-01" or
 * "dns-01". 0, AT_E_RANGE (out too small) or AT_E_CRYPTO. */
int at_fleet_record_key(char *out, size_t size, const char *kind, const char *data, size_t len) AT_MUST_CHECK;

/* 0 when v[0..len) is an HTTP-01 record for key: at most AT_FLEET_HTTP01_VALUE_MAX bytes, "<token>.<thumbprint>"
 * both base64url (at_http01_token_ok), and key is the token's at_fleet_record_key under "http-01". The token's
 * length into *token_len. Else AT_E_PARSE. */
int at_fleet_http01_check(const char *key, const char *v, size_t len, size_t *token_len) AT_MUST_CHECK;

/* 0 when v[0..len) is a DNS-01 record for key: "_acme-challenge.<name>\n<value>", the name of letters, digits,
 * '-', '_' and '.' (at most AT_FLEET_DNS01_NAME_MAX), the value base64url (1..AT_FLEET_DNS01_VALUE_MAX), and key
 * the whole value's at_fleet_record_key under "dns-01". The name's length into *name_len. Else AT_E_PARSE. */
int at_fleet_dns01_check(const char *key, const char *v, size_t len, size_t *name_len) AT_MUST_CHECK;

#endif
