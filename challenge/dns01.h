/*
 * What the two DNS-01 modes in challenge/ share (dns01_hook.c, dns01_rfc2136.c): the order of a present()
 * (add the TXT value, wait until it shows, withdraw it when the wait fails) and of a cleanup(). Each mode brings
 * only how it adds and deletes. Not for callers outside challenge/.
 */
#ifndef AUTOTLS_CHALLENGE_DNS01_H
#define AUTOTLS_CHALLENGE_DNS01_H

#include "challenge/dns01_wait.h"

struct at_challenge;

/* Adds (add = 1) or deletes ch's TXT value (dns_txt_name, dns_txt_value) the mode's way, with cfg the mode's
 * configuration. Returns 0 or a negative error, which the mode has logged. */
typedef int (*at_dns01_set_fn)(const void *cfg, int add, const struct at_challenge *ch);

/* present(): AT_E_INVAL for anything but a DNS-01 challenge with a name and a value; else adds, waits at wait
 * (dns01_wait.h) and, when the wait fails, deletes again (the client calls cleanup() only after a successful
 * present()). Returns 0, set's error or the wait's. */
int at_dns01_present(at_dns01_set_fn set, const void *cfg, const struct at_dns01_wait_config *wait,
		     const struct at_challenge *ch);
/* cleanup(): deletes; a failure is a warning that the record may be left behind. */
void at_dns01_cleanup(at_dns01_set_fn set, const void *cfg, const struct at_challenge *ch);

#endif
