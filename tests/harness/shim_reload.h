/*
 * The reload check of the shim scenarios (test_315, 340, 350): while a client keeps making verified handshakes
 * to the managed name (a new connection every 20 ms for 4 s, TLS 1.2 and 1.3 in turn), the server is sent its
 * own graceful reload (server_reload: nginx SIGHUP, Apache SIGUSR1, HAProxy SIGUSR2) one second in. No
 * handshake may fail; afterwards the server's process group has processes it did not have before (the new
 * workers / children), those serve the managed certificate (the same serial, verified, over many connections),
 * and Pebble saw no new order.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SHIM_RELOAD_H
#define AUTOTLS_TESTS_HARNESS_SHIM_RELOAD_H

#include "tests/harness/shim_env.h"

/* The reload under load above, on e's running server (its process group must be known: a daemon), as CHECKs. */
void shim_check_reload(struct shim_env *e);

#endif
