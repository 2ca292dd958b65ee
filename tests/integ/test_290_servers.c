/*
 * The server harness itself, without the shim: each server starts on a free port with its placeholder, serves
 * it (nginx: h2 and http/1.1, other.test's own certificate, two workers as www-data when we are root, the
 * variables we pass named in env directives), and stop leaves no process behind (nginx: none in its group);
 * Apache, HAProxy, lighttpd and stunnel likewise (daemon_kind).
 */
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/servers.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static struct server srv;

static int new_dir(const char *tag)
{
	snprintf(dir, sizeof(dir), "/tmp/autotls-servers-%s-XXXXXX", tag);
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static void served_placeholder(int port, const char *sni, const char *cn, const char *serial)
{
	struct tls_client_result r;
	char subject[128];

	memset(&r, 0, sizeof(r));
	snprintf(subject, sizeof(subject), "/CN=%s", cn);
	CHECK_OK(tls_client_connect(port, sni, NULL, 0, NULL, NULL, &r));
	CHECK_STR(r.subject, subject);
	CHECK_STR(r.serial, serial);
}

/* How many processes are in group pgid, and how many of them run as uid (from /proc). */
static int group_members(pid_t pgid, uid_t uid, int *with_uid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	*with_uid = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		struct stat st;
		char path[64];
		if (*end != '\0' || pid <= 0 || getpgid((pid_t)pid) != pgid)
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/%ld", pid);
		if (stat(path, &st) == 0 && st.st_uid == uid)
			(*with_uid)++;
	}
	closedir(d);
	return n;
}

/*
 * s_server and python, our direct children: the placeholder for any name, the ALPN (and version, want_version
 * not NULL) a client offering offer at version gets, and stop leaves no process behind.
 */
static void child_kind(enum server_kind kind, const char *offer, int version, const char *want_alpn,
		       const char *want_version)
{
	int port = harness_free_port();
	struct tls_client_result r;

	REQUIRE(new_dir(server_kind_name(kind)) == 0);
	REQUIRE(server_start(&srv, kind, dir, port, NULL) == 0);
	served_placeholder(port, "anything.test", SERVER_PLACEHOLDER_CN, srv.serial);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(port, "x.test", offer, version, NULL, NULL, &r));
	CHECK_STR(r.alpn, want_alpn);
	if (want_version != NULL)
		CHECK_STR(r.version, want_version);
	pid_t pid = srv.pid;
	server_stop(&srv);
	CHECK(kill(pid, 0) != 0 && errno == ESRCH);
	harness_remove_tree(dir);
}

static void s_server(void)
{
	child_kind(SERVER_S_SERVER, "h2", TLS1_3_VERSION, "h2", NULL);
}

static void python(void)
{
	child_kind(SERVER_PYTHON, "h2,http/1.1", TLS1_2_VERSION, "http/1.1", "TLSv1.2");
}

static void nginx(void)
{
	int port = harness_free_port(), www = 0, members;
	char e1[] = "AUTOTLS_TEST_MARK=servers-290";
	char *envp[] = {e1, NULL};
	struct tls_client_result r;

	REQUIRE(new_dir("nginx") == 0);
	REQUIRE(server_start(&srv, SERVER_NGINX, dir, port, envp) == 0);
	served_placeholder(port, "anything.test", SERVER_PLACEHOLDER_CN, srv.serial);
	served_placeholder(port, SERVER_OTHER_NAME, SERVER_OTHER_CN, srv.other_serial);
	CHECK(strcmp(srv.serial, srv.other_serial) != 0);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(port, "x.test", "h2,http/1.1", 0, NULL, NULL, &r));
	CHECK_STR(r.alpn, "h2");
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(port, "x.test", "http/1.1", TLS1_2_VERSION, NULL, NULL, &r));
	CHECK_STR(r.alpn, "http/1.1");
	/* TLS 1.1 is refused: ssl_protocols TLSv1.2 TLSv1.3. */
	CHECK(tls_client_connect(port, "x.test", NULL, TLS1_1_VERSION, NULL, NULL, NULL) != 0);

	members = group_members(srv.pid, 33, &www);
	CHECK_INT(members, ==, 3);
	if (geteuid() == 0)
		CHECK_INT(www, ==, 2);
	/* Every variable we pass gets an env directive, so it reaches the workers. (nginx's setproctitle writes
	 * over the original environment block, so /proc/<pid>/environ cannot show it.) */
	char *conf = harness_read_file(srv.config_file, NULL);
	CHECK(conf != NULL && strstr(conf, "\nenv AUTOTLS_TEST_MARK;\n") != NULL);
	free(conf);

	pid_t master = srv.pid;
	server_stop(&srv);
	CHECK(kill(-master, 0) != 0 && errno == ESRCH);
	CHECK_INT(group_members(master, 33, &www), ==, 0);

	/* A restart in the same folder keeps the placeholders. */
	char serial[80];
	snprintf(serial, sizeof(serial), "%s", srv.serial);
	REQUIRE(server_start(&srv, SERVER_NGINX, dir, port, envp) == 0);
	CHECK_STR(srv.serial, serial);
	served_placeholder(port, "anything.test", SERVER_PLACEHOLDER_CN, serial);
	server_stop(&srv);
	harness_remove_tree(dir);
}

/*
 * Apache, HAProxy, lighttpd, stunnel: the placeholder for any name, other.test's own certificate by SNI, ALPN
 * where the server does it, the unprivileged user on the processes that handshake (when we are root), a
 * reload where the harness has one (the same main process still serves afterwards), and stop leaves nothing in
 * the process group.
 */
static void daemon_kind(enum server_kind kind, const char *alpn, uid_t user, int min_user_procs)
{
	int port = harness_free_port(), with_user = 0;
	struct tls_client_result r;

	REQUIRE(new_dir(server_kind_name(kind)) == 0);
	REQUIRE(server_start(&srv, kind, dir, port, NULL) == 0);
	served_placeholder(port, "anything.test", SERVER_PLACEHOLDER_CN, srv.serial);
	served_placeholder(port, SERVER_OTHER_NAME, SERVER_OTHER_CN, srv.other_serial);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(port, "x.test", "h2,http/1.1", TLS1_2_VERSION, NULL, NULL, &r));
	CHECK_STR(r.alpn, alpn);
	memset(&r, 0, sizeof(r));
	CHECK_OK(tls_client_connect(port, "x.test", NULL, TLS1_3_VERSION, NULL, NULL, &r));
	CHECK_STR(r.version, "TLSv1.3");
	CHECK(srv.pgid > 1);
	CHECK_INT(group_members(srv.pgid, user, &with_user), >=, 1);
	if (geteuid() == 0)
		CHECK_INT(with_user, >=, min_user_procs);
	if (server_reload(&srv) == 0) {
		usleep(1500 * 1000);
		CHECK(server_alive(&srv));
		served_placeholder(port, "anything.test", SERVER_PLACEHOLDER_CN, srv.serial);
	}
	pid_t pgid = srv.pgid;
	server_stop(&srv);
	CHECK(kill(-pgid, 0) != 0 && errno == ESRCH);
	harness_remove_tree(dir);
}

static uid_t uid_of(const char *name)
{
	struct passwd *pw = getpwnam(name);
	return pw != NULL ? pw->pw_uid : (uid_t)-1;
}

static void apache(void)
{
	daemon_kind(SERVER_APACHE, "h2", 33, 2);
}

static void haproxy(void)
{
	daemon_kind(SERVER_HAPROXY, "h2", uid_of("haproxy"), 1);
}

static void lighttpd(void)
{
	daemon_kind(SERVER_LIGHTTPD, "h2", 33, 1);
}

static void stunnel(void)
{
	daemon_kind(SERVER_STUNNEL, "", uid_of("stunnel4"), 1);
}

int main(void)
{
	RUN(s_server);
	RUN(python);
	RUN(nginx);
	RUN(apache);
	RUN(haproxy);
	RUN(lighttpd);
	RUN(stunnel);
	return TEST_EXIT();
}
