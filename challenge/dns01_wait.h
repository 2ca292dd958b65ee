/*
 * Waiting until a DNS-01 TXT record can be seen, before the CA is told to look (RFC 8555 section 8.4): at one
 * server the caller names, or at every authoritative server of the zone. See dns01_wait.c for where it looks
 * and how long.
 */
#ifndef AUTOTLS_CHALLENGE_DNS01_WAIT_H
#define AUTOTLS_CHALLENGE_DNS01_WAIT_H

#include "util/err.h"

struct at_challenge;

struct at_dns01_wait_config {
	long wait_s;              /* how long in all, the search for the servers included (AUTOTLS_DNS_WAIT) */
	const char *server;       /* NULL: the zone's authoritative servers; else this server alone (an IP literal) */
	int server_port;
	const char *server_label; /* what the log lines call that server, e.g. "AUTOTLS_DNS_RESOLVER" */
	const char *resolv_conf;  /* the resolv.conf naming the resolver that finds the authoritative servers;
				   * NULL: /etc/resolv.conf */
};

/*
 * Polls for ch's TXT record (dns_txt_name holding dns_txt_value) for at most cfg->wait_s seconds and logs where
 * it looked and which server lagged. Returns 0 when it is visible, AT_E_TIMEOUT when the wait ended first,
 * AT_E_STATE when there is no server to ask. Blocks for up to wait_s seconds, calling the wait hooks
 * (wait_hooks.h) around every query and pause; borrows cfg and ch.
 */
int at_dns01_wait(const struct at_dns01_wait_config *cfg, const struct at_challenge *ch) AT_MUST_CHECK;

#endif
