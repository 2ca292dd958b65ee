/*
 * The shim under stunnel4 5.68: contexts made with SSL_CTX_new_ex (SSL_CTX_new is not even imported) as root,
 * then setuid(stunnel4) and daemon(); a thread per connection; service [svc] answers with /bin/echo once the
 * handshake is done, and [other] (sni = svc:other.test) has its own certificate, chosen in stunnel's servername
 * callback (SSL_set_SSL_CTX). No ALPN. The managed name gets a Pebble certificate through TLS-ALPN-01 on
 * stunnel's own port, served over TLS 1.2 and 1.3; other.test and a name stunnel does not know keep stunnel's
 * certificates; a restart on the same store serves the stored certificate at once without a new order; the
 * store's permissions and the log's hygiene hold. No reload here: stunnel's SIGHUP re-creates its contexts as
 * stunnel4, which cannot read the placeholder key.
 */
#include "tests/harness/shim_scenarios.h"

/* stunnel handshakes on a thread per connection, as stunnel4; other.test has its own sni= service,
 * unmanaged.test gets the default one's certificate. No ALPN. */
static const struct shim_server stunnel = {
	.kind = SERVER_STUNNEL,
	.process = SHIM_DAEMON_GROUP,
	.drops_root = 1,
	.has_other = 1,
};

int main(void)
{
	shim_scenarios_start(&stunnel);
	SHIM_RUN_DAEMON_SCENARIOS(every_process_serves_it);
	return TEST_EXIT();
}
