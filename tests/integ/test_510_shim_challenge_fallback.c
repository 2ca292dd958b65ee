/*
 * Every challenge through the shim, and the fallback between them. Pebble validates TLS-ALPN-01 on a port
 * where nothing listens (so that challenge fails, as behind a firewall on 443) and HTTP-01 on the port of the
 * manager's built-in responder: the managed name is still issued, through HTTP-01, whichever type the random
 * order tries first (when TLS-ALPN-01 comes first the log shows the fallback). With AUTOTLS_CHALLENGES naming
 * only tls-alpn-01, the same set-up obtains nothing and says why.
 */
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static void falls_back_to_http01(void)
{
	struct shim_env env;
	static char http[64];
	int http_port = harness_free_port();
	shim_env_pebble_tls_port = harness_free_port(); /* nothing will listen there */
	shim_env_pebble_http_port = http_port;
	snprintf(http, sizeof(http), "AUTOTLS_HTTP_PORT=%d", http_port);
	shim_env_extra[0] = http;
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	CHECK(started);
	if (started) {
		long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
		CHECK(ms >= 0);
		fprintf(stderr, "  verified after %ld ms\n", ms);
		CHECK(shim_log_has(&env, "through http-01"));
		if (shim_log_has(&env, "through tls-alpn-01")) {
			fprintf(stderr, "  tls-alpn-01 was tried first: the fallback was exercised\n");
			CHECK(shim_log_has(&env, "falling back to http-01"));
		}
		/* The built-in responder closed again once the challenge was done: the port is free. */
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)http_port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0);
		close(fd);
	}
	if (test_failed_now)
		shim_env_dump(&env);
	shim_env_stop(&env);
	shim_env_extra[0] = NULL;
	shim_env_pebble_tls_port = shim_env_pebble_http_port = 0;
}

static void only_tls_alpn_cannot(void)
{
	struct shim_env env;
	static char http[64];
	int http_port = harness_free_port();
	shim_env_pebble_tls_port = harness_free_port();
	shim_env_pebble_http_port = http_port;
	snprintf(http, sizeof(http), "AUTOTLS_HTTP_PORT=%d", http_port);
	shim_env_extra[0] = http;
	shim_env_extra[1] = "AUTOTLS_CHALLENGES=tls-alpn-01";
	int started = shim_env_start(&env, SERVER_S_SERVER) == 0;
	CHECK(started);
	if (started) {
		long ms = shim_wait_verified(&env, SHIM_NAME, 4000);
		CHECK(ms < 0);
		CHECK(shim_log_has(&env, "failed"));
		CHECK(!shim_log_has(&env, "through http-01"));
	}
	shim_env_stop(&env);
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	shim_env_pebble_tls_port = shim_env_pebble_http_port = 0;
}

int main(void)
{
	RUN(falls_back_to_http01);
	RUN(only_tls_alpn_cannot);
	return TEST_EXIT();
}
