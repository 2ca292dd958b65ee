/*
 * The shim under HAProxy 2.6 in master-worker mode (`haproxy -W -D`): a root master that forks one worker (two
 * threads) as user haproxy; the bind has a crt-list (the placeholder as default, other.test by SNI) and
 * `alpn h2,http/1.1`, and HAProxy switches contexts in its client_hello callback (ssl_sock_switchctx_cbk ->
 * SSL_set_SSL_CTX). The managed name gets a Pebble certificate through TLS-ALPN-01 on HAProxy's own port,
 * served over TLS 1.2 and 1.3 with h2 and http/1.1 still negotiated; other.test and a name HAProxy does not
 * know keep HAProxy's certificates; a master-worker reload (SIGUSR2: the master re-execs) under a stream of
 * handshakes loses none and the new worker serves the managed certificate; a restart on the same store serves
 * the stored certificate at once without a new order; the store's permissions and the log's hygiene hold.
 */
#include "tests/harness/shim_scenarios.h"

/* A master and one worker with two threads on the listener, as user haproxy; other.test has its own crt-list
 * entry, unmanaged.test gets the default one's certificate. The reload is master-worker's (SIGUSR2 to the
 * master): the master re-execs itself (the shim is loaded afresh from LD_PRELOAD), re-parses, starts a new worker
 * and tells the old one to finish (-sf). */
static const struct shim_server haproxy = {
	.kind = SERVER_HAPROXY,
	.process = SHIM_DAEMON_GROUP,
	.drops_root = 1,
	.has_other = 1,
	.alpn = {SHIM_ALPN_H2_AND_HTTP11},
	.reload = 1,
};

int main(void)
{
	shim_scenarios_start(&haproxy);
	SHIM_RUN_DAEMON_SCENARIOS(every_process_serves_it);
	return TEST_EXIT();
}
