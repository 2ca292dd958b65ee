/*
 * Waiting until a DNS-01 TXT record can be seen, before the CA is told to look (RFC 8555 section 8.4). See
 * dns01_wait.c for where it looks.
 */
#ifndef AUTOTLS_SHIM_MANAGER_DNS01_WAIT_H
#define AUTOTLS_SHIM_MANAGER_DNS01_WAIT_H

struct at_challenge;

/*
 * Polls for ch's TXT record (dns_txt_name holding dns_txt_value) for at most AUTOTLS_DNS_WAIT seconds and logs
 * where it looked and which server lagged. Returns 0 when it is visible, AT_E_TIMEOUT when the wait ended first,
 * AT_E_STATE when there is no server to ask. Manager thread only, holding the quiesce lock (released while it
 * waits); borrows ch.
 */
int mgr_dns01_wait(const struct at_challenge *ch) __attribute__((warn_unused_result));

#endif
