/*
 * Renewal under load (see tests/integ/shim_renewal.h) for Apache httpd, HAProxy, lighttpd and stunnel4, each
 * running as Debian configures it: two renewals each while a client loops handshakes, none failing.
 */
#include "tests/integ/shim_renewal.h"

static void apache_renews(void)
{
	renew_under_load(SERVER_APACHE);
}

static void haproxy_renews(void)
{
	renew_under_load(SERVER_HAPROXY);
}

static void lighttpd_renews(void)
{
	renew_under_load(SERVER_LIGHTTPD);
}

static void stunnel_renews(void)
{
	renew_under_load(SERVER_STUNNEL);
}

int main(void)
{
	RUN(apache_renews);
	RUN(haproxy_renews);
	RUN(lighttpd_renews);
	RUN(stunnel_renews);
	return TEST_EXIT();
}
