/*
 * A private Postfix instance for the shim tests (test_391): Debian's postfix 3.7 run from a folder of its own,
 * never the system's /etc/postfix or /var/spool/postfix. <dir>/postfix holds main.cf and master.cf, the queue
 * (pid/, private/ as postfix, public/ as postfix:postdrop), the data folder and maillog (Postfix's own log,
 * written by its postlogd). master.cf runs smtpd on 127.0.0.1:<port> (no chroot) and the services it needs for
 * EHLO and STARTTLS (postlogd, anvil, proxymap, tlsmgr); smtpd offers STARTTLS with a placeholder certificate
 * (CN placeholder.test). main.cf imports LD_PRELOAD and the AUTOTLS_* settings from master's environment
 * (import_environment: Postfix hands its daemons a cleaned environment), the one line of set-up the README asks
 * for.
 *
 * master runs in the foreground (-d) as root, the leader of its own process group, and dies with the test;
 * smtpd processes are spawned by master per connection load, as root until they drop to postfix after their
 * TLS set-up.
 */
#ifndef AUTOTLS_TESTS_HARNESS_POSTFIX_H
#define AUTOTLS_TESTS_HARNESS_POSTFIX_H

#include <sys/types.h>

#define POSTFIX_PLACEHOLDER_CN "placeholder.test"

struct postfix {
	pid_t pid; /* master's, 0 when not running */
	int port;
	char dir[320];       /* <dir>/postfix */
	char maillog[360];
	char out_file[360];  /* master's stdout and stderr */
	char cert_file[360]; /* the placeholder smtpd starts with */
	char serial[80];     /* its serial, upper-case hex */
};

/* Makes the instance under dir and starts master with envp (NULL-terminated "NAME=value"; LD_PRELOAD and the
 * AUTOTLS_* settings among them reach smtpd through import_environment), then waits until port accepts. 0 or -1
 * (why printed; call postfix_stop all the same). */
int postfix_start(struct postfix *p, const char *dir, int port, char *const envp[]);

/* 1 while master runs. */
int postfix_alive(struct postfix *p);

/* Stops master (SIGTERM: it stops its daemons) and its process group. Safe to call twice. */
void postfix_stop(struct postfix *p);

/* The tail of maillog and of master's output. */
void postfix_print_logs(const struct postfix *p);

#endif
