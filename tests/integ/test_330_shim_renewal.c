/*
 * Renewal while clients keep coming: Pebble issues 16-second certificates, so the manager renews when half the
 * lifetime is left (every ~8 s). For s_server, nginx and python (test_335: Apache, HAProxy, lighttpd,
 * stunnel4; CI also runs this file under ASan), a client loops full handshakes (verified against Pebble's
 * root, a new connection each time) through at least two renewals: no handshake fails, the serial changes at
 * least twice, and every worker ends up serving the newest certificate (checked over many connections at the
 * end).
 */
#include "tests/harness/shim_renewal.h"
#include "tests/test.h"

static void s_server_renews(void)
{
	shim_renew_under_load(SERVER_S_SERVER);
}

static void nginx_renews(void)
{
	shim_renew_under_load(SERVER_NGINX);
}

static void python_renews(void)
{
	shim_renew_under_load(SERVER_PYTHON);
}

int main(void)
{
	RUN(s_server_renews);
	RUN(nginx_renews);
	RUN(python_renews);
	return TEST_EXIT();
}
