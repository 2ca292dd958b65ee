/*
 * A fleet for the multi-host scenarios (test_450, test_905..908): more hosts of the same managed name beside a
 * shim_env's own server, each a server of its own (its own process tree, folder <env dir>/<name>, free port,
 * AUTOTLS_LOG and, when asked, AUTOTLS_STATE_DIR: no shared folder), with every other setting the env's (the
 * same store, name and CA); for the etcd fleets (test_9xx), a three-member etcd cluster as the store, the
 * engine's issue lock held from the test so that no validation comes before every host listens, and HAProxy
 * (mode tcp, round robin) on the env's port, the one Pebble validates TLS-ALPN-01 on.
 * Used by the tests alone; it starts and stops only the processes it records.
 */
#ifndef AUTOTLS_TESTS_HARNESS_FLEET_H
#define AUTOTLS_TESTS_HARNESS_FLEET_H

#include "tests/harness/etcd.h"
#include "tests/harness/servers.h"
#include "tests/harness/shim_env.h"

#include <stddef.h>
#include <sys/types.h>

#define FLEET_HOSTS_MAX 4

struct fleet_host {
	struct server srv;
	int port;
	int started;
	char dir[400], log[400], e_log[420], e_state[420];
	char e_http[40];        /* "AUTOTLS_HTTP_PORT=<port>" in place of the env's, when set (fleet_add_host_http) */
	char *envp[24];
};

struct at_store;

struct fleet {
	struct shim_env *env;   /* borrowed, set by the test: the env whose server is Pebble's tlsPort */
	struct etcd_cluster cl;
	char spec[300];         /* etcd://.../<prefix> */
	char e_state[420];      /* AUTOTLS_STATE_DIR of the env's own server, when fleet_prepare was asked for one */
	struct at_store *hold;  /* the issue lock's holder (fleet_hold_issue) */
	pid_t lb_pid;           /* HAProxy, 0: none */
	const char *lb_server_opts; /* NULL, or what fleet_start_haproxy adds to each server line (health checks) */
	int n;                  /* hosts in host[] */
	struct fleet_host host[FLEET_HOSTS_MAX];
};

/* Starts another host of e's fleet: a server of kind in <e->dir>/<name> on a free port, its own log
 * <dir>/autotls.log and, with own_state, its own AUTOTLS_STATE_DIR=<dir>/state (in place of e's, or added); the
 * rest of e's environment. 0, or -1 (why printed). */
int fleet_host_start(struct fleet_host *h, const struct shim_env *e, enum server_kind kind, const char *name,
		     int own_state);
/* For a failing test: the server's output and the host's autotls log. */
void fleet_host_dump(const struct fleet_host *h);

/* A verified handshake with SHIM_NAME on port (e's Pebble root) showing a serial other than old (NULL: any),
 * polled up to timeout_ms: shim_wait_serial's elapsed ms (the serial into serial), or -1. */
long fleet_wait_serial(const struct shim_env *e, int port, const char *old, long timeout_ms, char *serial, size_t cap);
/* 1 when the file at path holds what. */
int fleet_log_has(const char *path, const char *what);
/* Waits (polling every 20 ms) until the file at path holds what: 0, or -1 after timeout_ms. */
int fleet_log_wait(const char *path, const char *what, long timeout_ms);

/* Starts the etcd cluster and names the store: f->spec = etcd://.../prefix. 0 or -1. */
int fleet_etcd_start(struct fleet *f, const char *prefix);
/* shim_env_prepare(f->env, SERVER_NGINX) with extra (NULL or one "NAME=value", borrowed) and, when state_sub is
 * given, AUTOTLS_STATE_DIR=<env dir>/<state_sub> for the env's own server; then the env's AUTOTLS_STORAGE is the
 * fleet's store. 0 or -1. */
int fleet_prepare(struct fleet *f, const char *state_sub, const char *extra);
/* Takes (on the fleet's store) the engine's issue lock for SHIM_NAME, so that no host orders until released. */
int fleet_hold_issue(struct fleet *f);
/* Lets it go and closes the holder: at_store_unlock's code (0 or a negative at_err). */
int fleet_release_issue(struct fleet *f);
/* Starts the next host, nginx in <env dir>/<name> with a state folder of its own (fleet_host_start). 0 or -1. */
int fleet_add_host(struct fleet *f, const char *name);
/* fleet_add_host with AUTOTLS_HTTP_PORT=http_port in place of the env's (Pebble's httpPort): the host's HTTP-01
 * responder on a port of its own (test_911). 0 or -1. */
int fleet_add_host_http(struct fleet *f, const char *name, int http_port);
/* Starts n nginx hosts h0..h<n-1> (fleet_add_host). 0 or -1. */
int fleet_start_hosts(struct fleet *f, int n);
/* HAProxy (mode tcp, round robin over the hosts, in order) on the env's port; 0 once it accepts, or -1. */
int fleet_start_haproxy(struct fleet *f);
/* Waits until every host's log says it watches the store (up to timeout_ms each). 0 or -1. */
int fleet_wait_all_watch(struct fleet *f, long timeout_ms);
/* The host whose log says it leads the fleet (the last such), or -1. */
int fleet_leader(const struct fleet *f);
/* Round robin starts at h0: as many connections through the balancer as it takes for the next one (Pebble's
 * validation) to reach the host after lead, a follower. Prints which. */
void fleet_aim_after(struct fleet *f, int lead);
/* The set-up of test_907 and test_908: the issue lock held (fleet_hold_issue), n hosts (fleet_start_hosts),
 * HAProxy on the env's port, every host watching the store, and the validation aimed at the host after the
 * leader (fleet_aim_after). The leader's index, or -1 (a step failed; why printed where it can be). */
int fleet_behind_haproxy(struct fleet *f, int n);
/* For a failing test: every host's dump. */
void fleet_dump(const struct fleet *f);
/* Stops HAProxy, the hosts and the env (shim_env_stop); then, etcd still up, waits up to 10 s for every
 * autotls-manager process on the fleet's store to leave (those left are named, killed and fail the running
 * test: test_fail); then stops the etcd cluster. Safe on what never started. Returns the managers left. */
int fleet_stop(struct fleet *f);
/* A fleet test's end, from main: when a check failed, the dumps (the env's too with dump_env); fleet_stop, with
 * its own PASS/FAIL line (managers_leave_with_their_servers); the wall time since t0 printed. TEST_EXIT()'s
 * code. */
int fleet_end(struct fleet *f, int dump_env, long t0);

#endif
