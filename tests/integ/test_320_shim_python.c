/*
 * The shim under python3's http.server behind ssl.SSLContext(PROTOCOL_TLS_SERVER): CPython dlopens _ssl with
 * RTLD_LOCAL, so this is the case where dlsym(RTLD_NEXT) cannot find libssl (research/interposition.md 3.1).
 * The managed name gets a Pebble certificate through TLS-ALPN-01 on python's own port (the context offers only
 * http/1.1, so acme-tls/1 must be the shim's doing), served over TLS 1.2 and 1.3; another name keeps python's
 * placeholder; a restart on the same store serves the stored certificate at once without a new order; the
 * store's permissions and the log's hygiene hold.
 */
#include "tests/harness/shim_scenarios.h"

/* One foreground process whose context offers only http/1.1: a client offering h2 too gets http/1.1. */
static const struct shim_server python = {
	.kind = SERVER_PYTHON,
	.process = SHIM_FOREGROUND,
	.alpn = {{"h2,http/1.1", 0, "http/1.1"}},
};

int main(void)
{
	shim_scenarios_start(&python);
	SHIM_RUN_FOREGROUND_SCENARIOS();
	return TEST_EXIT();
}
