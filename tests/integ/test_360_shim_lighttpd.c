/*
 * The shim under lighttpd 1.4 (mod_openssl): one process that builds its context as root with
 * TLS_server_method, then setuid(www-data), then detaches (fork, setsid, fork) -- so the process that serves is
 * unprivileged and is not the one that created the context. lighttpd loads no certificate into the context: its
 * own cert callback puts one on each SSL (SSL_use_certificate), chosen by SNI ($HTTP["host"] == "other.test"
 * has its own), and it answers ALPN (h2, http/1.1) itself. The managed name gets a Pebble certificate through
 * TLS-ALPN-01 on lighttpd's own port, served over TLS 1.2 and 1.3 with h2 and http/1.1 still negotiated;
 * other.test and a name lighttpd does not know keep lighttpd's certificates; a restart on the same store serves
 * the stored certificate at once without a new order; the store's permissions and the log's hygiene hold. No
 * reload here: lighttpd's graceful restart re-reads its configuration as www-data, which cannot read the
 * placeholder key (as on a stock Debian lighttpd).
 */
#include "tests/harness/shim_scenarios.h"

/* One process, handshakes on its event loop, as www-data; other.test has its own $HTTP["host"] block,
 * unmanaged.test gets the default one's certificate. */
static const struct shim_server lighttpd = {
	.kind = SERVER_LIGHTTPD,
	.process = SHIM_DAEMON_GROUP,
	.drops_root = 1,
	.has_other = 1,
	.alpn = {SHIM_ALPN_H2_AND_HTTP11},
};

int main(void)
{
	shim_scenarios_start(&lighttpd);
	SHIM_RUN_DAEMON_SCENARIOS(every_process_serves_it);
	return TEST_EXIT();
}
