/*
 * Distributed HTTP-01 on etcd: three nginx hosts (separate trees and state folders) on one etcd store,
 * AUTOTLS_CHALLENGES=http-01, each host's responder on a port of its own. B starts first and leads the fleet;
 * Pebble validates HTTP-01 on A's port only, so the order succeeds only if A's responder answers B's token, which
 * A finds through the store (<PREFIX>/challenges/http-01/, watched). The test holds the engine's issue lock on
 * etcd until A and C are up, so that B's validation cannot come before A follows the store. Then every host
 * serves the one certificate (one order at Pebble), A answered the request and never led, neither B nor C was
 * asked, the record is gone from etcd and A's responder closed its port again once the token was withdrawn.
 */
#include "tests/harness/etcd.h"
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct shim_env env;
static struct fleet fl = { .env = &env };
static struct fleet_host *const b = &fl.host[0], *const c = &fl.host[1];

/* The token A answered from the store (its log's "http-01 token <t> answered here"), into out. 0 or -1. */
static int token_from_log(const char *path, char *out, size_t cap)
{
	static const char mark[] = "http-01 token ";
	char *text = harness_read_file(path, NULL), *p = text ? strstr(text, mark) : NULL;
	size_t n = 0;
	if (p != NULL) {
		p += sizeof(mark) - 1;
		while (p[n] != '\0' && p[n] != ' ' && n + 1 < cap)
			n++;
		memcpy(out, p, n);
		out[n] = '\0';
	}
	free(text);
	return n > 0 ? 0 : -1;
}

/* 1 when something accepts on 127.0.0.1:port. */
static int port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int open = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return open;
}

static void follower_answers_the_leaders_token(void)
{
	char serial_a[80], serial[80], token[300], key[200], hex[65], got[1024];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t got_len = 0;
	REQUIRE(fleet_etcd_start(&fl, "fleet911") == 0);
	REQUIRE(fleet_prepare(&fl, "state-a", "AUTOTLS_CHALLENGES=http-01") == 0);
	REQUIRE(fleet_hold_issue(&fl) == 0);
	/* B first, its responder on a port Pebble never validates on. */
	REQUIRE(fleet_add_host_http(&fl, "b", harness_free_port()) == 0);
	REQUIRE(fleet_log_wait(b->log, "leads the fleet", 10000) == 0);
	REQUIRE(fleet_add_host_http(&fl, "c", harness_free_port()) == 0);
	/* A, its responder on Pebble's httpPort: it must answer B's token. */
	REQUIRE(shim_env_server_start(&env) == 0);
	REQUIRE(shim_log_wait(&env, "watches", NULL, 1, 10000) >= 0);
	REQUIRE(fleet_log_wait(c->log, "watches", 10000) == 0);
	long t_release = harness_now_ms();
	CHECK_OK(fleet_release_issue(&fl));
	long ms = fleet_wait_serial(&env, env.port, NULL, SHIM_ISSUE_TIMEOUT_MS, serial_a, sizeof serial_a);
	fprintf(stderr, "  A (HTTP port %d, Pebble's httpPort, follower): %s after %ld ms\n", env.p.http_port,
		ms >= 0 ? serial_a : "never verified", ms);
	REQUIRE(ms >= 0);
	for (int h = 0; h < 2; h++) {
		ms = fleet_wait_serial(&env, fl.host[h].port, NULL, 5000, serial, sizeof serial);
		fprintf(stderr, "  %s: %s, %ld ms after A\n", h == 0 ? "B (leader)" : "C (follower)",
			ms >= 0 ? serial : "never verified", ms);
		CHECK(ms >= 0);
		if (ms >= 0)
			CHECK_STR(serial, serial_a);
	}
	fprintf(stderr, "  every host served it %ld ms after the issue lock was released\n", harness_now_ms() - t_release);
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	CHECK(fleet_log_has(b->log, "through http-01"));
	CHECK(!fleet_log_has(env.log, "leads the fleet"));
	/* A answered the validation from the store; nobody asked B's or C's responder. */
	CHECK(fleet_log_has(env.log, "answered here from the fleet's store"));
	CHECK(fleet_log_has(env.log, "answered a validation request for token"));
	CHECK(fleet_log_has(c->log, "answered here from the fleet's store"));
	CHECK(!fleet_log_has(b->log, "answered a validation request"));
	CHECK(!fleet_log_has(c->log, "answered a validation request"));
	/* The leader's cleanup deleted the record; A withdrew the token and its responder gave the port back. */
	REQUIRE(token_from_log(env.log, token, sizeof token) == 0);
	REQUIRE(EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) == 1);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(key, sizeof key, "fleet911/challenges/http-01/%s", hex);
	CHECK(etcd_cluster_ctl_get(&fl.cl, key, got, sizeof got, &got_len) != 0 || got_len == 0);
	long t0 = harness_now_ms();
	while (port_open(env.p.http_port) && harness_now_ms() - t0 < 5000)
		harness_sleep_ms(50);
	CHECK(!port_open(env.p.http_port));
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(follower_answers_the_leaders_token);
	return fleet_end(&fl, 1, t0);
}
