/*
 * A private mosquitto broker (see mosquitto.h). Owns the broker's process group and <dir>/mosquitto; a started
 * broker is registered and an atexit handler stops what a test forgot. Never listens anywhere but 127.0.0.1.
 */
#include "tests/harness/mosquitto.h"
#include "tests/harness/pebble.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOSQUITTO "/usr/sbin/mosquitto"
#define READY_TIMEOUT_MS 10000

static void stop_registered(void *m)
{
	mosquitto_stop(m);
}

int mosquitto_start(struct mosquitto *m, const char *dir, int port, char *const envp[])
{
	char key[360], conf[360], text[2048];
	struct passwd *pw = getpwnam("mosquitto");

	memset(m, 0, sizeof(*m));
	m->port = port;
	if (pw == NULL) {
		fprintf(stderr, "  mosquitto: no mosquitto user (scripts/deps.sh installs mosquitto)\n");
		return -1;
	}
	snprintf(m->dir, sizeof(m->dir), "%s/mosquitto", dir);
	snprintf(m->out_file, sizeof(m->out_file), "%s/mosquitto.out", m->dir);
	snprintf(m->cert_file, sizeof(m->cert_file), "%s/placeholder.pem", m->dir);
	snprintf(key, sizeof(key), "%s/placeholder.key", m->dir);
	snprintf(conf, sizeof(conf), "%s/mosquitto.conf", m->dir);
	if (mkdir(m->dir, 0755) != 0 && errno != EEXIST)
		return -1;
	if (harness_placeholder(m->cert_file, key, MOSQUITTO_PLACEHOLDER_CN, m->serial, sizeof(m->serial)) != 0 ||
	    chown(key, pw->pw_uid, pw->pw_gid) != 0)
		return -1;
	snprintf(text, sizeof(text),
		 "per_listener_settings false\n"
		 "allow_anonymous true\n"
		 "user mosquitto\n"
		 "persistence false\n"
		 "log_dest stdout\n"
		 "listener %d 127.0.0.1\n"
		 "certfile %s\n"
		 "keyfile %s\n",
		 port, m->cert_file, key);
	FILE *f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	fclose(f);
	char *argv[] = {MOSQUITTO, "-c", conf, NULL};
	struct harness_spawn_opts o = {
		.argv = argv,
		.extra_env = envp,
		.out_path = m->out_file,
		.cwd = m->dir,
		.own_group = 1,
		.die_with_us = 1,
	};
	if (harness_spawn(&o, &m->pid) != 0)
		return -1;
	if (harness_reg_add(m, stop_registered) != 0)
		return -1;
	long t0 = harness_now_ms();
	while (!harness_tcp_connects(port)) {
		if (harness_now_ms() - t0 > READY_TIMEOUT_MS) {
			fprintf(stderr, "  mosquitto: 127.0.0.1:%d does not accept\n", port);
			return -1;
		}
		harness_sleep_ms(20);
	}
	return 0;
}

long mosquitto_uid(const struct mosquitto *m)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)m->pid);
	char *text = harness_read_file(path, NULL);
	char *line = text != NULL ? strstr(text, "\nUid:\t") : NULL;
	long uid = line != NULL ? strtol(line + 6, NULL, 10) : -1;
	free(text);
	return uid;
}

void mosquitto_stop(struct mosquitto *m)
{
	if (m->pid > 0)
		harness_stop_child(m->pid, SIGTERM, 3000, 1);
	m->pid = 0;
	harness_reg_remove(m);
}
