/*
 * Real servers for the shim tests (see servers.h).
 *
 * Who calls it: integration tests, from their main thread (PR_SET_PDEATHSIG fires when the thread that forked
 * ends).
 *
 * What it owns: the processes it starts, and the files it writes into the folder the test gives. Every running
 * server is registered; an atexit handler stops what a test forgot. A test killed by a signal is covered by
 * PR_SET_PDEATHSIG in the direct children, and for the daemons (nginx, Apache, HAProxy, lighttpd, stunnel:
 * their main process is a grandchild after they detach, and the death signal is cleared by fork) by a watchdog
 * child that waits for its own death signal and then SIGKILLs the daemon's process group. The test process
 * becomes a child subreaper on the first daemon start, so the detached processes stay ours to reap.
 *
 * Who reads what: the daemons read their certificates and keys as root before dropping privileges, so the
 * placeholder keys stay 0600 root. What they open after the drop is made theirs: lighttpd's error log
 * (www-data), stunnel's log and the folder of its pid file (stunnel4; it creates the pid file with O_EXCL after
 * setuid).
 *
 * What it must never do: find processes by name, listen anywhere but 127.0.0.1.
 */
#include "tests/harness/servers.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 15000
#define STOP_GRACE_MS 5000
#define POLL_MS 10

/* ---- small helpers ---- */

/* dst = dir + "/" + name; "" when it does not fit (every caller then fails on the empty path). */
static void join(char *dst, size_t cap, const char *dir, const char *name)
{
	if ((size_t)snprintf(dst, cap, "%s/%s", dir, name) >= cap)
		dst[0] = '\0';
}

const char *server_kind_name(enum server_kind kind)
{
	switch (kind) {
	case SERVER_S_SERVER:
		return "s_server";
	case SERVER_NGINX:
		return "nginx";
	case SERVER_PYTHON:
		return "python";
	case SERVER_APACHE:
		return "apache";
	case SERVER_HAPROXY:
		return "haproxy";
	case SERVER_LIGHTTPD:
		return "lighttpd";
	case SERVER_STUNNEL:
		return "stunnel";
	default:
		return "unknown";
	}
}

/* ---- registry (proc.h): what atexit stops ---- */

static void stop_registered(void *s)
{
	server_stop(s);
}

/* ---- processes ---- */

/* fork + exec (spawn.h). die_with_us: PR_SET_PDEATHSIG SIGKILL (not for a daemon's launcher: its detached main
 * process would not keep it anyway). The PID or -1. */
static pid_t spawn(char *const argv[], char *const extra_env[], const char *out_path, int die_with_us)
{
	struct harness_spawn_opts o = {.argv = argv, .extra_env = extra_env, .out_path = out_path,
				       .die_with_us = die_with_us};
	pid_t pid;

	return harness_spawn(&o, &pid) == 0 ? pid : -1;
}

/*
 * A child that sleeps until the test dies (its PR_SET_PDEATHSIG is SIGTERM, which it waits for with sigwait)
 * and then SIGKILLs process group pgid. server_stop kills it once the group is gone.
 */
static pid_t spawn_watchdog(pid_t pgid)
{
	pid_t parent = getpid();
	sigset_t term, old;
	pid_t pid;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, &old);
	pid = fork();
	if (pid == 0) {
		int sig = 0;
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
			kill(-pgid, SIGKILL);
			_exit(0);
		}
		for (int fd = 0; fd < 1024; fd++)
			close(fd);
		while (sigwait(&term, &sig) != 0 || sig != SIGTERM)
			;
		kill(-pgid, SIGKILL);
		_exit(0);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* 1 when pid has exited (and is reaped, when it was our child); *status gets its wait status if we reaped it. */
static int child_gone(pid_t pid, int *status)
{
	int st = 0;
	pid_t r = waitpid(pid, &st, WNOHANG);
	if (r == pid) {
		if (status != NULL)
			*status = st;
		return 1;
	}
	if (r < 0 && errno == ECHILD)
		return kill(pid, 0) != 0 && errno == ESRCH;
	return 0;
}

/* Reaps every exited member of group pgid that is our child (we are a subreaper), then 1 when none is left. */
static int group_gone(pid_t pgid)
{
	while (waitpid(-pgid, NULL, WNOHANG) > 0)
		;
	return kill(-pgid, 0) != 0 && errno == ESRCH;
}

/* The same for a whole process group (a daemon's main process and its children): SIGTERM the main process,
 * then SIGKILL the group. */
static void stop_group(pid_t master, pid_t pgid)
{
	long deadline = harness_now_ms() + STOP_GRACE_MS;

	if (pgid <= 0)
		pgid = master;
	if (pgid <= 0)
		return;
	if (master > 0)
		kill(master, SIGTERM);
	else
		kill(-pgid, SIGTERM);
	while (!group_gone(pgid)) {
		if (harness_now_ms() > deadline) {
			kill(-pgid, SIGKILL);
			deadline = harness_now_ms() + STOP_GRACE_MS;
			while (!group_gone(pgid) && harness_now_ms() < deadline)
				harness_sleep_ms(POLL_MS);
			break;
		}
		harness_sleep_ms(POLL_MS);
	}
}

/* ---- files ---- */

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t len = strlen(text), off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, mode) != 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* The daemons' unprivileged processes (www-data, haproxy, stunnel4) must traverse dir (made 0755 here); every
 * parent must be traversable too. */
static int make_traversable(const char *dir)
{
	char path[SERVER_PATH_MAX];
	struct stat st;

	if (chmod(dir, 0755) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s", dir);
	for (char *slash = strrchr(path, '/'); slash != NULL && slash != path; slash = strrchr(path, '/')) {
		*slash = '\0';
		if (stat(path, &st) != 0 || (st.st_mode & S_IXOTH) == 0) {
			fprintf(stderr, "servers: %s is not traversable by other users (workers run unprivileged)\n",
				path);
			return -1;
		}
	}
	return 0;
}

/* ---- per server ---- */

/* nginx.conf; every variable envp names gets an `env` directive so it reaches the workers (nginx replaces
 * their environment with TZ and those). */
static int write_nginx_conf(const struct server *s, char *const envp[])
{
	char env_lines[4096] = "";
	size_t used = 0;
	char *text = NULL;
	int ret = -1, n;

	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
		const char *eq = strchr(envp[i], '=');
		int len = eq ? (int)(eq - envp[i]) : (int)strlen(envp[i]);
		n = snprintf(env_lines + used, sizeof(env_lines) - used, "env %.*s;\n", len, envp[i]);
		if (n < 0 || (size_t)n >= sizeof(env_lines) - used)
			return -1;
		used += (size_t)n;
	}
	n = asprintf(&text,
		     "# written by tests/harness/servers.c\n"
		     "%s"
		     "worker_processes 2;\n"
		     "pid %s;\n"
		     "error_log %s info;\n"
		     "%s"
		     "events { worker_connections 256; }\n"
		     "http {\n"
		     "    default_type text/plain;\n"
		     "    access_log %s/access.log;\n"
		     "    client_body_temp_path %s/tmp-body;\n"
		     "    proxy_temp_path %s/tmp-proxy;\n"
		     "    fastcgi_temp_path %s/tmp-fastcgi;\n"
		     "    uwsgi_temp_path %s/tmp-uwsgi;\n"
		     "    scgi_temp_path %s/tmp-scgi;\n"
		     "    ssl_protocols TLSv1.2 TLSv1.3;\n"
		     "%s"
		     "    server {\n"
		     "        listen 127.0.0.1:%d ssl http2 default_server;\n"
		     "        server_name _;\n"
		     "        ssl_certificate %s;\n"
		     "        ssl_certificate_key %s;\n"
		     "        location / { return 200 \"default\\n\"; }\n"
		     "    }\n"
		     "    server {\n"
		     "        listen 127.0.0.1:%d ssl http2;\n"
		     "        server_name %s;\n"
		     "        ssl_certificate %s;\n"
		     "        ssl_certificate_key %s;\n"
		     "        location / { return 200 \"other\\n\"; }\n"
		     "    }\n"
		     "}\n",
		     geteuid() == 0 ? "user www-data;\n" : "", s->pid_file, s->error_log, env_lines, s->dir, s->dir,
		     s->dir, s->dir, s->dir, s->dir, server_nginx_http_extra ? server_nginx_http_extra : "", s->port,
		     s->cert_file, s->key_file, s->port, SERVER_OTHER_NAME,
		     s->other_cert_file, s->other_key_file);
	if (n < 0)
		return -1;
	ret = write_file(s->config_file, text, 0644);
	free(text);
	return ret;
}

int server_keep_root;
const char *server_nginx_http_extra;

/* 1 when the configs should switch to an unprivileged user. */
static int drop_root(void)
{
	return geteuid() == 0 && !server_keep_root;
}

/* chown path to user (and its primary group) when we are root; 0 when done or not needed. */
static int give_to(const char *path, const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		fprintf(stderr, "servers: no user %s\n", user);
		return -1;
	}
	return chown(path, pw->pw_uid, pw->pw_gid);
}

/* An empty file (kept when it exists) given to user: a log the server opens after dropping privileges. */
static int touch_for(const char *path, const char *user)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0 || close(fd) != 0)
		return -1;
	return give_to(path, user);
}

/* Writes text (the result of asprintf, n its return) to path and frees it. */
static int write_conf(const char *path, char *text, int n)
{
	int ret;

	if (n < 0)
		return -1;
	ret = write_file(path, text, 0644);
	free(text);
	return ret;
}

#define APACHE_MODULES "/usr/lib/apache2/modules"

/* apache2.conf: its own ServerRoot and runtime folder (the test's), the event MPM with children as www-data,
 * the default vhost (placeholder, h2) and one for other.test. mod_mime and mod_dir are loaded as a default
 * Debian server has them; nothing is served from files. */
static int write_apache_conf(const struct server *s)
{
	char *text = NULL;
	int n = asprintf(&text,
			 "# written by tests/harness/servers.c\n"
			 "ServerRoot %s\n"
			 "DefaultRuntimeDir %s\n"
			 "PidFile %s\n"
			 "ErrorLog %s\n"
			 "LogLevel info\n"
			 "LoadModule mpm_event_module " APACHE_MODULES "/mod_mpm_event.so\n"
			 "LoadModule authz_core_module " APACHE_MODULES "/mod_authz_core.so\n"
			 "LoadModule socache_shmcb_module " APACHE_MODULES "/mod_socache_shmcb.so\n"
			 "LoadModule ssl_module " APACHE_MODULES "/mod_ssl.so\n"
			 "LoadModule http2_module " APACHE_MODULES "/mod_http2.so\n"
			 "LoadModule mime_module " APACHE_MODULES "/mod_mime.so\n"
			 "LoadModule dir_module " APACHE_MODULES "/mod_dir.so\n"
			 "%s"
			 "ServerName localhost\n"
			 "Listen 127.0.0.1:%d\n"
			 "StartServers 2\n"
			 "Mutex file:%s default\n"
			 "TypesConfig /dev/null\n"
			 "DocumentRoot %s\n"
			 "SSLSessionCache shmcb:%s/ssl_scache(512000)\n"
			 "SSLProtocol -all +TLSv1.2 +TLSv1.3\n"
			 "<VirtualHost 127.0.0.1:%d>\n"
			 "    ServerName default.test\n"
			 "    Protocols h2 http/1.1\n"
			 "    SSLEngine on\n"
			 "    SSLCertificateFile %s\n"
			 "    SSLCertificateKeyFile %s\n"
			 "</VirtualHost>\n"
			 "<VirtualHost 127.0.0.1:%d>\n"
			 "    ServerName %s\n"
			 "    Protocols h2 http/1.1\n"
			 "    SSLEngine on\n"
			 "    SSLCertificateFile %s\n"
			 "    SSLCertificateKeyFile %s\n"
			 "</VirtualHost>\n",
			 s->dir, s->dir, s->pid_file, s->error_log,
			 geteuid() == 0 ? "User www-data\nGroup www-data\n" : "", s->port, s->dir, s->dir, s->dir,
			 s->port, s->cert_file, s->key_file, s->port, SERVER_OTHER_NAME, s->other_cert_file,
			 s->other_key_file);
	return write_conf(s->config_file, text, n);
}

/* haproxy.cfg and its crt-list: the placeholder (certificate and key in one PEM) is the default, other.test's
 * is chosen by SNI; every request gets a 200 from HAProxy itself. The worker runs as haproxy. */
static int write_haproxy_conf(const struct server *s)
{
	char list[SERVER_PATH_MAX], pem[SERVER_PATH_MAX], other_pem[SERVER_PATH_MAX];
	char *cert = NULL, *key = NULL, *ocert = NULL, *okey = NULL, *text = NULL;
	int n, ret = -1;

	join(list, sizeof(list), s->dir, "haproxy.crt-list");
	join(pem, sizeof(pem), s->dir, "placeholder-combined.pem");
	join(other_pem, sizeof(other_pem), s->dir, "other-combined.pem");
	cert = harness_read_file(s->cert_file, NULL);
	key = harness_read_file(s->key_file, NULL);
	ocert = harness_read_file(s->other_cert_file, NULL);
	okey = harness_read_file(s->other_key_file, NULL);
	if (cert == NULL || key == NULL || ocert == NULL || okey == NULL)
		goto out;
	n = asprintf(&text, "%s%s", cert, key);
	if (write_conf(pem, text, n) != 0 || chmod(pem, 0600) != 0)
		goto out;
	n = asprintf(&text, "%s%s", ocert, okey);
	if (write_conf(other_pem, text, n) != 0 || chmod(other_pem, 0600) != 0)
		goto out;
	n = asprintf(&text, "%s\n%s %s\n", pem, other_pem, SERVER_OTHER_NAME);
	if (write_conf(list, text, n) != 0)
		goto out;
	n = asprintf(&text,
		     "# written by tests/harness/servers.c\n"
		     "global\n"
		     "%s"
		     "    nbthread 2\n"
		     "defaults\n"
		     "    mode http\n"
		     "    timeout connect 5s\n"
		     "    timeout client 10s\n"
		     "    timeout server 10s\n"
		     "frontend fe\n"
		     "    bind 127.0.0.1:%d ssl crt-list %s alpn h2,http/1.1 ssl-min-ver TLSv1.2\n"
		     "    http-request return status 200 content-type text/plain string \"haproxy\\n\"\n",
		     drop_root() ? "    user haproxy\n    group haproxy\n" : "", s->port, list);
	ret = write_conf(s->config_file, text, n);
out:
	free(cert);
	free(key);
	free(ocert);
	free(okey);
	return ret;
}

/* lighttpd.conf: mod_openssl on the one port, other.test's certificate in a $HTTP["host"] block (lighttpd
 * matches it against SNI), server.username www-data. lighttpd opens its error log after setuid. */
static int write_lighttpd_conf(const struct server *s)
{
	char *text = NULL;
	int n;

	if (touch_for(s->error_log, "www-data") != 0)
		return -1;
	n = asprintf(&text,
		     "# written by tests/harness/servers.c\n"
		     "server.modules = ( \"mod_openssl\" )\n"
		     "server.document-root = \"%s\"\n"
		     "server.bind = \"127.0.0.1\"\n"
		     "server.port = %d\n"
		     "%s"
		     "server.pid-file = \"%s\"\n"
		     "server.errorlog = \"%s\"\n"
		     "ssl.engine = \"enable\"\n"
		     "ssl.pemfile = \"%s\"\n"
		     "ssl.privkey = \"%s\"\n"
		     "$HTTP[\"host\"] == \"%s\" {\n"
		     "    ssl.pemfile = \"%s\"\n"
		     "    ssl.privkey = \"%s\"\n"
		     "}\n",
		     s->dir, s->port,
		     drop_root() ? "server.username = \"www-data\"\nserver.groupname = \"www-data\"\n" : "",
		     s->pid_file, s->error_log, s->cert_file, s->key_file, SERVER_OTHER_NAME, s->other_cert_file,
		     s->other_key_file);
	return write_conf(s->config_file, text, n);
}

/* stunnel.conf: [svc] answers every connection with /bin/echo's line once the handshake is done; [other] is
 * chosen by SNI other.test. stunnel creates its pid file (O_EXCL) and reopens its log after setuid(stunnel4),
 * so both live where stunnel4 may write: a run/ folder of its own and a log file given to it. */
static int write_stunnel_conf(struct server *s)
{
	char run[SERVER_PATH_MAX];
	char *text = NULL;
	int n;

	join(run, sizeof(run), s->dir, "run");
	if ((mkdir(run, 0755) != 0 && errno != EEXIST) || give_to(run, "stunnel4") != 0 ||
	    touch_for(s->error_log, "stunnel4") != 0)
		return -1;
	n = asprintf(&text,
		     "; written by tests/harness/servers.c\n"
		     "foreground = no\n"
		     "pid = %s\n"
		     "output = %s\n"
		     "debug = info\n"
		     "%s"
		     "[svc]\n"
		     "accept = 127.0.0.1:%d\n"
		     "cert = %s\n"
		     "key = %s\n"
		     "sslVersionMin = TLSv1.2\n"
		     "exec = /bin/echo\n"
		     "execArgs = echo stunnel\n"
		     "[other]\n"
		     "sni = svc:%s\n"
		     "cert = %s\n"
		     "key = %s\n"
		     "exec = /bin/echo\n"
		     "execArgs = echo other\n",
		     s->pid_file, s->error_log, drop_root() ? "setuid = stunnel4\nsetgid = stunnel4\n" : "",
		     s->port, s->cert_file, s->key_file, SERVER_OTHER_NAME, s->other_cert_file, s->other_key_file);
	return write_conf(s->config_file, text, n);
}

static const char python_script[] =
	"# written by tests/harness/servers.c: http.server behind ssl.SSLContext(PROTOCOL_TLS_SERVER)\n"
	"import http.server, ssl, sys\n"
	"\n"
	"port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
	"ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
	"ctx.load_cert_chain(cert, key)\n"
	"ctx.set_alpn_protocols(['http/1.1'])\n"
	"\n"
	"class Handler(http.server.BaseHTTPRequestHandler):\n"
	"    def do_GET(self):\n"
	"        body = b'python\\n'\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Type', 'text/plain')\n"
	"        self.send_header('Content-Length', str(len(body)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(body)\n"
	"\n"
	"class Server(http.server.ThreadingHTTPServer):\n"
	"    daemon_threads = True\n"
	"    def handle_error(self, request, client_address):\n"
	"        pass  # handshake-only probes and clients that hang up are normal here\n"
	"\n"
	"httpd = Server(('127.0.0.1', port), Handler)\n"
	"# The handshake happens in the handler thread (on the first read), so a stuck client cannot block accept.\n"
	"httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)\n"
	"print('listening on 127.0.0.1:%d' % port, flush=True)\n"
	"httpd.serve_forever()\n";

static int start_s_server(struct server *s, char *const envp[])
{
	char accept[64];
	char *argv[] = {"openssl", "s_server", "-accept", accept, "-cert", s->cert_file, "-key", s->key_file,
			"-www", "-alpn", "h2,http/1.1", NULL};

	snprintf(accept, sizeof(accept), "127.0.0.1:%d", s->port);
	s->pid = spawn(argv, envp, s->out_file, 1);
	return s->pid > 0 ? 0 : -1;
}

static int start_python(struct server *s, char *const envp[])
{
	char port[16];
	char *argv[] = {"python3", "-u", s->config_file, port, s->cert_file, s->key_file, NULL};

	snprintf(port, sizeof(port), "%d", s->port);
	if (write_file(s->config_file, python_script, 0644) != 0)
		return -1;
	s->pid = spawn(argv, envp, s->out_file, 1);
	return s->pid > 0 ? 0 : -1;
}

static pid_t read_pid_file(const char *path)
{
	char *text = harness_read_file(path, NULL);
	long v = text ? strtol(text, NULL, 10) : 0;
	free(text);
	return v > 1 ? (pid_t)v : 0;
}

/* 1 for the servers that detach themselves (found through their pid file, stopped by process group). */
static int is_daemon(enum server_kind kind)
{
	return kind == SERVER_NGINX || kind == SERVER_APACHE || kind == SERVER_HAPROXY || kind == SERVER_LIGHTTPD ||
	       kind == SERVER_STUNNEL;
}

/*
 * Runs argv, which detaches (fork + setsid) and exits 0 (non-zero on a config error), then waits for the
 * daemon's pid file, takes its process group and starts the watchdog over that group.
 */
static int start_daemon(struct server *s, char *const argv[], char *const envp[])
{
	long deadline = harness_now_ms() + READY_TIMEOUT_MS;
	pid_t launcher;
	int status = 0;

	unlink(s->pid_file);
	/* The detached main process is reparented to us, so we can wait for it and its children. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	launcher = spawn(argv, envp, s->out_file, 0);
	if (launcher <= 0)
		return -1;
	while (!child_gone(launcher, &status)) {
		if (harness_now_ms() > deadline) {
			kill(launcher, SIGKILL);
			waitpid(launcher, NULL, 0);
			return -1;
		}
		harness_sleep_ms(POLL_MS);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "servers: %s exited with status 0x%x before daemonising\n", server_kind_name(s->kind),
			status);
		return -1;
	}
	/* The main process writes its pid file after detaching. */
	while ((s->pid = read_pid_file(s->pid_file)) == 0) {
		if (harness_now_ms() > deadline) {
			fprintf(stderr, "servers: %s wrote no pid file %s\n", server_kind_name(s->kind), s->pid_file);
			return -1;
		}
		harness_sleep_ms(POLL_MS);
	}
	/* The pid file can name the main process before it has left our process group: nginx 1.22 (Debian 12) writes
	 * it from the launcher, right after the fork and before the child's setsid. Wait for the setsid. */
	while ((s->pgid = getpgid(s->pid)) > 1 && s->pgid == getpgid(0) && harness_now_ms() <= deadline)
		harness_sleep_ms(POLL_MS);
	if (s->pgid <= 1 || s->pgid == getpgid(0)) {
		fprintf(stderr, "servers: %s (%d) has no process group of its own\n", server_kind_name(s->kind),
			(int)s->pid);
		s->pgid = 0;
		return -1;
	}
	if (s->pgid != s->pid && s->kind != SERVER_LIGHTTPD)
		fprintf(stderr, "servers: %s %d is not its group's leader\n", server_kind_name(s->kind), (int)s->pid);
	s->watchdog_pid = spawn_watchdog(s->pgid);
	return 0;
}

static int start_nginx(struct server *s, char *const envp[])
{
	char prefix[SERVER_PATH_MAX + 2];
	char *argv[] = {"nginx", "-p", prefix, "-c", s->config_file, "-e", s->error_log, NULL};

	snprintf(prefix, sizeof(prefix), "%s/", s->dir);
	if (write_nginx_conf(s, envp) != 0)
		return -1;
	/* The launcher exits 0 right after ngx_daemon's fork, or 1 on a config error. */
	return start_daemon(s, argv, envp);
}

/* apache2 -k start: the launcher detaches (apr_proc_detach: fork, setsid) and exits 0. */
static int start_apache(struct server *s, char *const envp[])
{
	char *argv[] = {"apache2", "-d", s->dir, "-f", s->config_file, "-k", "start", NULL};

	if (write_apache_conf(s) != 0)
		return -1;
	return start_daemon(s, argv, envp);
}

/* haproxy -W -D: the master detaches and forks the worker; the master's pid goes to the pid file. */
static int start_haproxy(struct server *s, char *const envp[])
{
	char *argv[] = {"haproxy", "-W", "-D", "-f", s->config_file, "-p", s->pid_file, NULL};

	if (write_haproxy_conf(s) != 0)
		return -1;
	return start_daemon(s, argv, envp);
}

/* lighttpd -f: loads its certificates as root, setuid(www-data), then detaches (fork, setsid, fork) and the
 * launcher exits 0 once the daemon reports it started. */
static int start_lighttpd(struct server *s, char *const envp[])
{
	char *argv[] = {"lighttpd", "-f", s->config_file, NULL};

	if (write_lighttpd_conf(s) != 0)
		return -1;
	return start_daemon(s, argv, envp);
}

/* stunnel4 <conf>: setuid(stunnel4), then daemon(). */
static int start_stunnel(struct server *s, char *const envp[])
{
	char *argv[] = {"stunnel4", s->config_file, NULL};

	if (write_stunnel_conf(s) != 0)
		return -1;
	return start_daemon(s, argv, envp);
}

int server_start(struct server *s, enum server_kind kind, const char *dir, int port, char *const envp[])
{
	long deadline;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->port = port;
	if (dir == NULL || strlen(dir) > 400 || port <= 0 || port > 65535) {
		fprintf(stderr, "servers: bad folder or port\n");
		return -1;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	join(s->cert_file, sizeof(s->cert_file), dir, "placeholder-cert.pem");
	join(s->key_file, sizeof(s->key_file), dir, "placeholder-key.pem");
	join(s->other_cert_file, sizeof(s->other_cert_file), dir, "other-cert.pem");
	join(s->other_key_file, sizeof(s->other_key_file), dir, "other-key.pem");
	join(s->error_log, sizeof(s->error_log), dir, "error.log");
	snprintf(s->out_file, sizeof(s->out_file), "%s/%s.out", dir, server_kind_name(kind));
	if (kind == SERVER_STUNNEL)
		snprintf(s->pid_file, sizeof(s->pid_file), "%s/run/stunnel.pid", dir);
	else
		snprintf(s->pid_file, sizeof(s->pid_file), "%s/%s.pid", dir, server_kind_name(kind));
	if (kind == SERVER_PYTHON)
		join(s->config_file, sizeof(s->config_file), dir, "server.py");
	else
		snprintf(s->config_file, sizeof(s->config_file), "%s/%s.conf", dir, server_kind_name(kind));
	if (chmod(dir, 0755) != 0 ||
	    harness_placeholder(s->cert_file, s->key_file, SERVER_PLACEHOLDER_CN, s->serial, sizeof(s->serial)) != 0) {
		fprintf(stderr, "servers: could not prepare %s (%s)\n", dir, strerror(errno));
		return -1;
	}
	if (is_daemon(kind) && (harness_placeholder(s->other_cert_file, s->other_key_file, SERVER_OTHER_CN, s->other_serial,
					    sizeof(s->other_serial)) != 0 ||
				make_traversable(s->dir) != 0)) {
		fprintf(stderr, "servers: could not prepare %s for %s\n", dir, server_kind_name(kind));
		return -1;
	}
	if (harness_reg_add(s, stop_registered) != 0) {
		fprintf(stderr, "servers: too many servers at once\n");
		return -1;
	}
	switch (kind) {
	case SERVER_S_SERVER:
		rc = start_s_server(s, envp);
		break;
	case SERVER_NGINX:
		rc = start_nginx(s, envp);
		break;
	case SERVER_PYTHON:
		rc = start_python(s, envp);
		break;
	case SERVER_APACHE:
		rc = start_apache(s, envp);
		break;
	case SERVER_HAPROXY:
		rc = start_haproxy(s, envp);
		break;
	case SERVER_LIGHTTPD:
		rc = start_lighttpd(s, envp);
		break;
	case SERVER_STUNNEL:
		rc = start_stunnel(s, envp);
		break;
	default:
		rc = -1;
		break;
	}
	if (rc != 0)
		goto fail;
	deadline = harness_now_ms() + READY_TIMEOUT_MS;
	while (!harness_tcp_connects(port)) {
		if (!server_alive(s) || harness_now_ms() > deadline)
			goto fail;
		harness_sleep_ms(POLL_MS);
	}
	/* Someone else on the port would also accept: make sure it is ours that runs. */
	if (!server_alive(s))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "servers: %s did not start on 127.0.0.1:%d\n", server_kind_name(kind), port);
	server_print_logs(s);
	server_stop(s);
	return -1;
}

int server_alive(struct server *s)
{
	if (s->pid <= 0)
		return 0;
	if (child_gone(s->pid, NULL)) {
		/* A daemon: the main process is gone but its group may not be; server_stop still sweeps it. */
		if (!is_daemon(s->kind))
			s->pid = 0;
		return 0;
	}
	return 1;
}

void server_stop(struct server *s)
{
	if (s == NULL)
		return;
	if (is_daemon(s->kind)) {
		/* Without a group (the start failed before it was known) only what the pid file names, if it
		 * leads a group of its own. */
		pid_t master = s->pid > 0 ? s->pid : read_pid_file(s->pid_file);
		pid_t pgid = s->pgid;
		if (pgid <= 0 && master > 0 && getpgid(master) == master)
			pgid = master;
		if (pgid > 0)
			stop_group(master, pgid);
		s->pgid = 0;
		if (s->watchdog_pid > 0) {
			kill(s->watchdog_pid, SIGKILL);
			while (waitpid(s->watchdog_pid, NULL, 0) < 0 && errno == EINTR)
				;
		}
		s->watchdog_pid = 0;
	} else {
		harness_stop_child(s->pid, SIGTERM, STOP_GRACE_MS, 0);
	}
	s->pid = 0;
	harness_reg_remove(s);
}

void server_print_logs(const struct server *s)
{
	harness_print_tail(NULL, s->out_file, 3000);
	if (is_daemon(s->kind))
		harness_print_tail(NULL, s->error_log, 3000);
}

int server_reload(struct server *s)
{
	int sig;

	switch (s->kind) {
	case SERVER_NGINX:
		sig = SIGHUP;
		break;
	case SERVER_APACHE:
		sig = SIGUSR1;
		break;
	case SERVER_HAPROXY:
		sig = SIGUSR2;
		break;
	default:
		return -1;
	}
	if (s->pid <= 0 || kill(s->pid, sig) != 0)
		return -1;
	return 0;
}
