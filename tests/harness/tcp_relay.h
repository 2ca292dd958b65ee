/*
 * A TCP relay the test controls, for cutting one host off from a service (test_910: one host of an etcd fleet
 * cut off from the cluster while the others keep it). One forked process (it dies with the test) listens on a
 * loopback port for each target port and copies bytes both ways. Cut: the listeners are closed (a connect is
 * refused) and every relayed connection is closed at both ends, so that a client holding a stream (an etcd
 * watch) sees it end, not only its next connect fail. Mend: the same ports listen again. The child owns its
 * sockets alone; the test talks to it through two pipes (an order, then its acknowledgement).
 */
#ifndef AUTOTLS_TESTS_HARNESS_TCP_RELAY_H
#define AUTOTLS_TESTS_HARNESS_TCP_RELAY_H

#include <sys/types.h>

#define TCP_RELAY_MAX 4

struct tcp_relay {
	pid_t pid;                   /* the relay, 0: not running */
	int ctl;                     /* our end of the order pipe, -1: none */
	int ack;                     /* our end of the acknowledgement pipe, -1: none */
	int n;
	int port[TCP_RELAY_MAX];     /* where it listens, one per target */
	int to[TCP_RELAY_MAX];       /* 127.0.0.1:to[i] */
};

/* Starts the relay for n target ports on 127.0.0.1 (its own free ports into r->port). 0, or -1 (why printed). */
int tcp_relay_start(struct tcp_relay *r, const int *to, int n);
/* Cuts (closes the listeners and every relayed connection): 0 once the relay says it is done, or -1. */
int tcp_relay_cut(struct tcp_relay *r);
/* Listens again on the same ports: 0 once the relay says it is done, or -1. */
int tcp_relay_mend(struct tcp_relay *r);
/* Stops the relay. Safe on one never started, and twice. */
void tcp_relay_stop(struct tcp_relay *r);

#endif
