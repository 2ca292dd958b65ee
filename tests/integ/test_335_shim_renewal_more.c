/*
 * Renewal under load (see tests/harness/shim_renewal.h) for Apache httpd, HAProxy, lighttpd and stunnel4, each
 * running as Debian configures it: two renewals each while a client loops handshakes, none failing.
 */
#include "tests/harness/shim_renewal.h"
#include "tests/test.h"

static void apache_renews(void)
{
	shim_renew_under_load(SERVER_APACHE);
}

static void haproxy_renews(void)
{
	shim_renew_under_load(SERVER_HAPROXY);
}

static void lighttpd_renews(void)
{
	shim_renew_under_load(SERVER_LIGHTTPD);
}

static void stunnel_renews(void)
{
	shim_renew_under_load(SERVER_STUNNEL);
}

int main(void)
{
	RUN(apache_renews);
	RUN(haproxy_renews);
	RUN(lighttpd_renews);
	RUN(stunnel_renews);
	return TEST_EXIT();
}
