/*
 * The shim under Apache 2.4 as Debian runs it: `apache2 -k start` detaches a root parent that forks event-MPM
 * children as www-data; mod_ssl builds its contexts with TLS_server_method (twice in the pre-detach process,
 * again in the parent), switches virtual hosts in a client_hello callback (SSL_set_SSL_CTX) and answers ALPN
 * itself, and `Protocols h2 http/1.1` is on. The managed name gets a Pebble certificate through TLS-ALPN-01 on
 * Apache's own port, served over TLS 1.2 and 1.3 with h2 and http/1.1 still negotiated; other.test (its own
 * VirtualHost) and a name Apache does not know keep Apache's certificates; a graceful restart under a stream of
 * handshakes loses none and the new children serve the managed certificate; a restart on the same store serves
 * the stored certificate at once without a new order; the store's permissions and the log's hygiene hold.
 */
#include "tests/harness/shim_scenarios.h"

/* A root parent running two or more children (www-data, ~25 threads each) on the listener; other.test has its own
 * VirtualHost, unmanaged.test gets the default one's certificate. The reload is a graceful restart (SIGUSR1 to
 * the parent, as `apache2 -k graceful` sends): the parent re-reads the configuration, builds new contexts and
 * forks new children while the old ones finish. */
static const struct shim_server apache = {
	.kind = SERVER_APACHE,
	.process = SHIM_DAEMON_GROUP,
	.has_other = 1,
	.alpn = {SHIM_ALPN_H2_AND_HTTP11},
	.reload = 1,
};

int main(void)
{
	shim_scenarios_start(&apache);
	SHIM_RUN_DAEMON_SCENARIOS(every_process_serves_it);
	return TEST_EXIT();
}
