/*
 * A private Postfix instance (see postfix.h).
 *
 * Who calls it: integration tests, from their main thread (the death signal fires when the thread that forked
 * ends).
 *
 * What it owns: master and its process group, and <dir>/postfix. A started instance is registered; an atexit
 * handler stops what a test forgot. What it must never do: touch /etc/postfix or the system's queue, listen
 * anywhere but 127.0.0.1, find processes by name.
 */
#include "tests/harness/postfix.h"
#include "tests/harness/files.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MASTER "/usr/lib/postfix/sbin/master"
#define READY_TIMEOUT_MS 15000
#define STOP_GRACE_MS 5000

/* What main.cf imports for the shim (import_environment takes names, no patterns). */
#define IMPORT_ENV                                                                                                 \
	"MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS AUTOTLS_DOMAINS "    \
	"AUTOTLS_STORAGE AUTOTLS_STORAGE_GROUP AUTOTLS_CA AUTOTLS_CA_ROOTS AUTOTLS_LOG AUTOTLS_LOG_LEVEL "        \
	"AUTOTLS_HTTP_PORT"

static void stop_registered(void *p)
{
	postfix_stop(p);
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* mkdir path mode uid:gid. 0 or -1. */
static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return -1;
	return chown(path, uid, gid) == 0 && chmod(path, mode) == 0 ? 0 : -1;
}

static int make_instance(struct postfix *p, const char *dir)
{
	char path[420], key[400], text[4096];
	struct passwd *pw = getpwnam("postfix");
	struct group *gr = getgrnam("postdrop");

	if (pw == NULL || gr == NULL) {
		fprintf(stderr, "  postfix: no postfix user or postdrop group (scripts/deps.sh installs postfix)\n");
		return -1;
	}
	uid_t pf = pw->pw_uid;
	gid_t pfg = pw->pw_gid, pd = gr->gr_gid;
	snprintf(p->dir, sizeof(p->dir), "%s/postfix", dir);
	snprintf(p->maillog, sizeof(p->maillog), "%s/maillog", p->dir);
	snprintf(p->out_file, sizeof(p->out_file), "%s/master.out", p->dir);
	snprintf(p->cert_file, sizeof(p->cert_file), "%s/placeholder.pem", p->dir);
	snprintf(key, sizeof(key), "%s/placeholder.key", p->dir);
	if (make_dir(p->dir, 0755, 0, 0) != 0)
		return -1;
	const struct {
		const char *name;
		mode_t mode;
		uid_t uid;
		gid_t gid;
	} dirs[] = {
		{"queue", 0755, 0, 0}, {"queue/pid", 0755, 0, 0}, {"queue/private", 0700, pf, pfg},
		{"queue/public", 0710, pf, pd}, {"data", 0700, pf, pfg},
	};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", p->dir, dirs[i].name);
		if (make_dir(path, dirs[i].mode, dirs[i].uid, dirs[i].gid) != 0) {
			fprintf(stderr, "  postfix: cannot make %s: %s\n", path, strerror(errno));
			return -1;
		}
	}
	if (harness_placeholder(p->cert_file, key, POSTFIX_PLACEHOLDER_CN, p->serial, sizeof(p->serial)) != 0)
		return -1;
	snprintf(text, sizeof(text),
		 "compatibility_level = 3.6\n"
		 "queue_directory = %s/queue\n"
		 "data_directory = %s/data\n"
		 "command_directory = /usr/sbin\n"
		 "daemon_directory = /usr/lib/postfix/sbin\n"
		 "meta_directory = /etc/postfix\n"
		 "shlib_directory = /usr/lib/postfix\n"
		 "mail_owner = postfix\n"
		 "setgid_group = postdrop\n"
		 "inet_interfaces = 127.0.0.1\n"
		 "inet_protocols = ipv4\n"
		 "myhostname = mail.example.test\n"
		 "mydestination =\n"
		 "local_recipient_maps =\n"
		 "alias_maps =\n"
		 "alias_database =\n"
		 "maillog_file = %s\n"
		 "maillog_file_prefixes = %s\n"
		 "smtpd_tls_security_level = may\n"
		 "smtpd_tls_cert_file = %s\n"
		 "smtpd_tls_key_file = %s\n"
		 "smtpd_tls_loglevel = 1\n"
		 "import_environment = " IMPORT_ENV "\n",
		 p->dir, p->dir, p->maillog, p->dir, p->cert_file, key);
	snprintf(path, sizeof(path), "%s/main.cf", p->dir);
	if (write_text(path, text) != 0)
		return -1;
	snprintf(text, sizeof(text),
		 "127.0.0.1:%d inet n - n - - smtpd\n"
		 "postlog unix-dgram n - n - 1 postlogd\n"
		 "anvil unix - - n - 1 anvil\n"
		 "proxymap unix - - n - - proxymap\n"
		 "tlsmgr unix - - n 1000? 1 tlsmgr\n",
		 p->port);
	snprintf(path, sizeof(path), "%s/master.cf", p->dir);
	return write_text(path, text);
}

int postfix_start(struct postfix *p, const char *dir, int port, char *const envp[])
{
	memset(p, 0, sizeof(*p));
	p->port = port;
	if (make_instance(p, dir) != 0)
		return -1;
	char *argv[] = {MASTER, "-d", "-c", p->dir, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = envp,
		.out_path = p->out_file,
		.cwd = p->dir,
		.own_group = 1,
		.die_with_us = 1,
	};
	if (harness_spawn(&o, &p->pid) != 0)
		return -1;
	if (harness_reg_add(p, stop_registered) != 0) {
		postfix_stop(p);
		return -1;
	}
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(port)) {
		if (!postfix_alive(p) || harness_now_ms() - t0 > READY_TIMEOUT_MS) {
			fprintf(stderr, "  postfix: master %s before 127.0.0.1:%d accepted\n",
				postfix_alive(p) ? "still waiting" : "exited", port);
			return -1;
		}
		harness_sleep_ms(20);
	}
	return 0;
}

int postfix_alive(struct postfix *p)
{
	int status;
	if (p->pid <= 0)
		return 0;
	if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->pid = 0;
		return 0;
	}
	return 1;
}

void postfix_stop(struct postfix *p)
{
	if (p->pid > 0)
		harness_stop_child(p->pid, SIGTERM, STOP_GRACE_MS, 1);
	p->pid = 0;
	harness_reg_remove(p);
}

void postfix_print_logs(const struct postfix *p)
{
	if (p->dir[0] == '\0')
		return;
	harness_print_tail("postfix maillog", p->maillog, 3000);
	harness_print_tail("postfix master output", p->out_file, 1000);
}
