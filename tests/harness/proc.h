/*
 * Small process and file helpers that servers.c and dbservers.c share: time, a TCP probe, the environment of a
 * spawned server, a certificate's serial. No state.
 */
#ifndef AUTOTLS_TESTS_HARNESS_PROC_H
#define AUTOTLS_TESTS_HARNESS_PROC_H

#include <openssl/x509.h>
#include <stddef.h>

/* Sleeps ms milliseconds (resumed across EINTR). */
void harness_sleep_ms(long ms);

/* CLOCK_MONOTONIC in milliseconds. */
long harness_now_ms(void);

/* 1 when a TCP connection to 127.0.0.1:port is accepted, else 0. */
int harness_tcp_connects(int port);

/* Our environment with every name that extra sets removed, plus extra. New array (strings borrowed); free(). */
char **harness_make_env(char *const *extra);

/* cert's serial number in upper-case hex into out. 0, or -1 when it does not fit. */
int harness_serial_hex(X509 *cert, char *out, size_t cap);

#endif
