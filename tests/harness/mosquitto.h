/*
 * A private mosquitto broker for the shim tests (test_393): Debian's mosquitto 2.0 with a configuration of its
 * own in <dir>/mosquitto: one TLS listener on 127.0.0.1:<port> with a placeholder certificate (CN
 * placeholder.test; the key readable by the mosquitto user, as it loads it after dropping privileges),
 * anonymous clients, no persistence, its log on stdout. Started as root with `user mosquitto`, as Debian runs
 * it: it drops to mosquitto before it makes its TLS context. The leader of its own process group; dies with the
 * test.
 */
#ifndef AUTOTLS_TESTS_HARNESS_MOSQUITTO_H
#define AUTOTLS_TESTS_HARNESS_MOSQUITTO_H

#include <sys/types.h>

#define MOSQUITTO_PLACEHOLDER_CN "placeholder.test"

struct mosquitto {
	pid_t pid;
	int port;
	char dir[320];
	char out_file[360];
	char cert_file[360];
	char serial[80];
};

/* Makes the configuration under dir and starts the broker with envp; waits until port accepts. 0 or -1 (why
 * printed; call mosquitto_stop all the same). */
int mosquitto_start(struct mosquitto *m, const char *dir, int port, char *const envp[]);

/* The uid the broker runs as now, or -1. */
long mosquitto_uid(const struct mosquitto *m);

void mosquitto_stop(struct mosquitto *m);

#endif
