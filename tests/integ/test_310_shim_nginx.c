/*
 * The shim under nginx as it normally runs: daemonised, a root master and two workers as www-data (the workers'
 * environment comes only from `env` directives), http2 on the listener, and a second server block for
 * other.test with its own certificate (nginx switches contexts with SSL_set_SSL_CTX in its servername
 * callback). The managed name gets a Pebble certificate through TLS-ALPN-01 on nginx's own port (nginx itself
 * would answer alert 120 to a ClientHello that offers only acme-tls/1), served over TLS 1.2 and 1.3, with ALPN
 * h2 and http/1.1 still negotiated; other.test and a name nginx does not know keep nginx's own certificates; a
 * restart on the same store serves the stored certificate at once without a new order; the store's
 * permissions and the log's hygiene hold.
 */
#include "tests/harness/shim_scenarios.h"

/* A root master leading its own process group and two workers sharing the listener (every_worker_serves_it:
 * enough handshakes that both are met); other.test has its own server block, unmanaged.test gets the default
 * server's certificate. */
static const struct shim_server nginx = {
	.kind = SERVER_NGINX,
	.process = SHIM_DAEMON_LEADER,
	.has_other = 1,
	.alpn = {SHIM_ALPN_H2_AND_HTTP11},
};

int main(void)
{
	shim_scenarios_start(&nginx);
	SHIM_RUN_DAEMON_SCENARIOS(every_worker_serves_it);
	return TEST_EXIT();
}
