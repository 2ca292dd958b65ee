/*
 * The User-Agent the ACME client sends (RFC 8555 section 6.1: clients must send one): the libcurl seam
 * (acme/http_curl.c) with no agent given sends "libautotls/<the file VERSION>", read here from the request
 * bytes on a loopback listener.
 */
#include "acme/http.h"
#include "tests/harness/pebble.h"
#include "tests/test.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lfd = -1;
static char request[4096];

/* Accepts one connection, keeps the request head, answers 204. */
static void *serve_one(void *arg)
{
	(void)arg;
	int c = accept(lfd, NULL, NULL);
	size_t n = 0;
	ssize_t r;
	if (c < 0)
		return NULL;
	while (n + 1 < sizeof(request) && (r = read(c, request + n, sizeof(request) - 1 - n)) > 0) {
		n += (size_t)r;
		request[n] = '\0';
		if (strstr(request, "\r\n\r\n") != NULL)
			break;
	}
	const char *answer = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	if (write(c, answer, strlen(answer)) < 0)
		perror("write");
	close(c);
	return NULL;
}

static void default_agent_carries_the_version(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 1) == 0 &&
		getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
	pthread_t t;
	REQUIRE(pthread_create(&t, NULL, serve_one, NULL) == 0);

	struct at_http_ops http;
	REQUIRE(at_http_curl_new(&http, NULL, NULL) == 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/directory", ntohs(a.sin_port));
	struct at_http_request req = { .method = "GET", .url = url, .timeout_ms = 5000 };
	struct at_http_response resp = { 0 };
	CHECK_OK(http.perform(http.ctx, &req, &resp));
	CHECK_INT(resp.status, ==, 204);
	at_http_response_clear(&resp);
	http.cleanup(http.ctx);
	pthread_join(t, NULL);
	close(lfd);

	size_t len = 0;
	char *version = harness_read_file("VERSION", &len);
	REQUIRE(version != NULL);
	version[strcspn(version, "\n")] = '\0';
	char want[128];
	snprintf(want, sizeof(want), "\r\nUser-Agent: libautotls/%s\r\n", version);
	if (strstr(request, want) == NULL)
		fprintf(stderr, "  wanted %s in:\n%s\n", want + 2, request);
	CHECK(strstr(request, want) != NULL);
	free(version);
}

int main(void)
{
	RUN(default_agent_carries_the_version);
	return TEST_EXIT();
}
