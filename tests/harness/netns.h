/*
 * A network namespace of the test's own: unshare(CLONE_NEWNET) with loopback brought up, so 127.0.0.0/8 and ::1
 * route to it alone. For tests whose servers must listen where they cannot choose the address (knotd on port 53
 * at fixed addresses, test_527; OpenSSL 3.0's `openssl ocsp -port`, which binds every interface, test_630) and
 * so that nothing but loopback can be reached at all. Call it first in main(), before any child or thread: the
 * calling thread and its later children are in the namespace. Needs root (CAP_SYS_ADMIN).
 */
#ifndef AUTOTLS_TESTS_HARNESS_NETNS_H
#define AUTOTLS_TESTS_HARNESS_NETNS_H

/* 0, or -1 with the reason printed. */
int harness_netns_private(void);

#endif
