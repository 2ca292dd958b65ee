/*
 * Hosts of an etcd fleet (fleet.h) that reach the cluster through a TCP relay of their own (tcp_relay.h), so
 * that a test can cut one off from etcd while the others keep it (test_910: a follower through a renewal;
 * test_915: the leader); and the reading of such a host's log between two moments (what it said while cut off).
 */
#ifndef AUTOTLS_TESTS_HARNESS_FLEET_CUT_H
#define AUTOTLS_TESTS_HARNESS_FLEET_CUT_H

#include "tests/harness/fleet.h"
#include "tests/harness/tcp_relay.h"

#include <stddef.h>

/* Starts r, a relay to each member of f's cluster, and then the next host of f (fleet_add_host: nginx in <env
 * dir>/<name>, its own state folder) with the env's settings but AUTOTLS_STORAGE naming the relay's ports. 0 or
 * -1. */
int fleet_cut_add_host(struct fleet *f, struct tcp_relay *r, const char *name);

/* The size of the file at path (0 when absent): a moment in a host's log. */
size_t fleet_cut_log_size(const char *path);
/* Prints the lines of path's bytes [from, to) that are not debug lines; how many, and into *with how many of
 * them hold what. */
int fleet_cut_loud_lines(const char *path, size_t from, size_t to, const char *what, int *with);
/* Waits (polling every 50 ms) until path holds what after its first from bytes: 0, or -1 after timeout_ms. */
int fleet_cut_log_wait_after(const char *path, size_t from, const char *what, long timeout_ms);

#endif
