/*
 * HTTP-01 through a webroot served by nginx itself (AUTOTLS_WEBROOT, AUTOTLS_CHALLENGES=http-01): nginx under
 * the shim serves http://<name>/.well-known/acme-challenge/ from a folder on Pebble's httpPort and TLS on its
 * own port; the manager writes the token file there, Pebble fetches it through nginx, the managed name then
 * verifies over TLS, and the token file is gone afterwards.
 */
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void webroot_served_by_nginx(void)
{
	struct shim_env env;
	static char e_webroot[PATH_MAX + 32];
	char www[PATH_MAX], conf[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	shim_env_extra[0] = "AUTOTLS_CHALLENGES=http-01";
	shim_env_extra[1] = e_webroot;
	/* the folder is only known after prepare: fill the setting in place before the server starts */
	snprintf(e_webroot, sizeof(e_webroot), "AUTOTLS_WEBROOT=/nonexistent");
	int ok = shim_env_prepare(&env, SERVER_NGINX) == 0;
	shim_env_extra[0] = shim_env_extra[1] = NULL;
	REQUIRE(ok);
	snprintf(www, sizeof(www), "%s/www", env.dir);
	snprintf(e_webroot, sizeof(e_webroot), "AUTOTLS_WEBROOT=%s", www);
	snprintf(conf, sizeof(conf), "%s/webroot-nginx.conf", env.dir);
	snprintf(cert, sizeof(cert), "%s/ph.pem", env.dir);
	snprintf(key, sizeof(key), "%s/ph.key", env.dir);
	REQUIRE(mkdir(www, 0755) == 0);
	REQUIRE(harness_placeholder(cert, key, SERVER_PLACEHOLDER_CN, NULL, 0) == 0);
	chmod(key, 0644); /* www-data workers read it here; a test folder, not a real key */
	FILE *f = fopen(conf, "w");
	REQUIRE(f != NULL);
	fprintf(f,
		"daemon off;\nuser www-data;\nworker_processes 1;\npid %s/webroot-nginx.pid;\nerror_log %s/error.log;\n"
		"events { worker_connections 64; }\n"
		"http {\n  access_log off;\n  client_body_temp_path %s/tb;\n  proxy_temp_path %s/tp;\n"
		"  fastcgi_temp_path %s/tf;\n  uwsgi_temp_path %s/tu;\n  scgi_temp_path %s/ts;\n"
		"  server { listen 127.0.0.1:%d; location /.well-known/acme-challenge/ { root %s; } }\n"
		"  server { listen 127.0.0.1:%d ssl; ssl_certificate %s; ssl_certificate_key %s;\n"
		"    location / { return 200 \"ok\\n\"; } }\n}\n",
		env.dir, env.dir, env.dir, env.dir, env.dir, env.dir, env.dir, env.p.http_port, www, env.port, cert, key);
	fclose(f);
	char **envp = harness_make_env(env.envp);
	REQUIRE(envp != NULL);
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		setsid();
		char *argv[] = { "nginx", "-c", conf, "-e", "stderr", NULL };
		execve("/usr/sbin/nginx", argv, envp);
		_exit(127);
	}
	free(envp);
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(env.port) && harness_now_ms() - t0 < 15000)
		harness_sleep_ms(50);
	long ms = shim_wait_verified(&env, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	fprintf(stderr, "  verified through the webroot after %ld ms\n", ms);
	CHECK(ms >= 0);
	CHECK(shim_log_has(&env, "through http-01"));
	char dirpath[PATH_MAX + 32];
	snprintf(dirpath, sizeof(dirpath), "%s/.well-known/acme-challenge", www);
	struct stat st;
	CHECK(stat(dirpath, &st) != 0); /* the token and the folders the manager made are gone */
	if (test_failed_now)
		shim_env_dump(&env);
	kill(-pid, SIGTERM);
	for (int i = 0; i < 50 && waitpid(pid, NULL, WNOHANG) == 0; i++)
		harness_sleep_ms(100);
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
	shim_env_stop(&env);
}

int main(void)
{
	RUN(webroot_served_by_nginx);
	return TEST_EXIT();
}
