/*
 * Debian's knotd as a test's own authoritative server: a fresh folder for its config, zones and control socket,
 * knotd in the foreground as the test's child (killed with it), stopped by PID and the folder removed. The
 * caller writes the config (knot_file; its rundir is k->dir, so `knotc -s <dir>/knot.sock` reaches it) and the
 * zone files, then starts it and waits until it serves a zone.
 */
#ifndef AUTOTLS_TESTS_HARNESS_KNOT_H
#define AUTOTLS_TESTS_HARNESS_KNOT_H

#include <sys/types.h>

#define KNOTD "/usr/sbin/knotd"

struct knot {
	pid_t pid;     /* -1 when not running */
	char dir[64];  /* the folder, "" until knot_prepare */
};

/* Makes the folder. 0, or -1 (and says why, e.g. that knotd is not installed). */
int knot_prepare(struct knot *k);

/* Writes text into <dir>/<name>. 0 or -1. */
int knot_file(const struct knot *k, const char *name, const char *text);

/* Starts knotd -c <dir>/knot.conf and waits (10 s at most) until ip:port answers an SOA query for zone as its
 * apex. 0, or -1 with knotd's log on stderr. */
int knot_run(struct knot *k, const char *ip, int port, const char *zone);

/* Stops it (SIGTERM, SIGKILL after 3 s) and removes the folder. Safe to call twice. */
void knot_stop(struct knot *k);

#endif
