/*
 * The shim under `openssl s_server` (one process, SSL_CTX_new_ex, -www, -alpn h2,http/1.1): the managed name
 * gets a Pebble certificate through TLS-ALPN-01 answered on s_server's own port, served over TLS 1.2 and 1.3;
 * another name keeps s_server's placeholder; a restart on the same store serves the stored certificate at once
 * without a new order; the store's permissions and the log's hygiene hold.
 */
#include "tests/harness/shim_scenarios.h"

/* One foreground process; -alpn h2,http/1.1, so a client that offers only http/1.1 gets it. */
static const struct shim_server s_server = {
	.kind = SERVER_S_SERVER,
	.process = SHIM_FOREGROUND,
	.alpn = {{"http/1.1", 0, "http/1.1"}},
};

int main(void)
{
	shim_scenarios_start(&s_server);
	SHIM_RUN_FOREGROUND_SCENARIOS();
	return TEST_EXIT();
}
