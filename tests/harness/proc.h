/*
 * Small process and file helpers that servers.c, dbservers.c and pebble.c share: time, stopping a child, a TCP
 * probe, the environment of a spawned server, a certificate's serial, and the registry of running servers that
 * an atexit handler stops (its only state).
 */
#ifndef AUTOTLS_TESTS_HARNESS_PROC_H
#define AUTOTLS_TESTS_HARNESS_PROC_H

#include <openssl/x509.h>
#include <stddef.h>
#include <sys/types.h>

/* Sleeps ms milliseconds (resumed across EINTR). */
void harness_sleep_ms(long ms);

/* CLOCK_MONOTONIC in milliseconds (the library's clock, util/clock.h). */
long harness_now_ms(void);

/*
 * Stops pid, our child: sends it sig (SIGTERM; SIGKILL to kill it at once), gives it up to grace_ms to exit,
 * then SIGKILLs it (group: its whole process group, which it leads) and waits for it. Always reaps it; a pid
 * that is no longer our child counts as gone. pid <= 0 does nothing.
 */
void harness_stop_child(pid_t pid, int sig, long grace_ms, int group);

/* 1 when a TCP connection to 127.0.0.1:port is accepted, else 0. */
int harness_tcp_connects(int port);
/* A TCP connection to 127.0.0.1:port with timeout_s for every read and write (close-on-exec), or -1 with errno
 * set (the caller says why: the protocol clients poll quietly). */
int harness_tcp_open(int port, int timeout_s);

/* Our environment with every name that extra sets removed, plus extra. New array (strings borrowed); free(). */
char **harness_make_env(char *const *extra);

/* The same, also without every variable of ours whose name starts with drop_prefix (NULL or "": none). */
char **harness_make_env_without(char *const *extra, const char *drop_prefix);

/* cert's serial number in upper-case hex into out. 0, or -1 when it does not fit. */
int harness_serial_hex(X509 *cert, char *out, size_t cap);

/* $BUILD/libautotls.so (BUILD defaults to "build") as an absolute path into out (cap at least PATH_MAX: it is
 * realpath's buffer). 0, or -1 when it is not there
 * (out then still names it absolutely, and why is printed). */
int harness_shim_lib_path(char *out, size_t cap);

/*
 * The LD_PRELOAD value for running a real (uninstrumented) server under the library at lib: lib itself, or,
 * for a library built with a sanitizer whose runtime must come first (AddressSanitizer: "address" in the
 * build folder's name), that runtime then lib. *sanitized (may be NULL) is set to 1 in that case, and the
 * caller should also pass the ASAN_OPTIONS/UBSAN_OPTIONS of harness_sanitizer_env. 0 or -1 (out too small).
 */
int harness_preload_value(char *out, size_t size, const char *lib, int *sanitized);

/* "ASAN_OPTIONS=..." and "UBSAN_OPTIONS=..." for a sanitized preload: the servers' own leaks at exit are not
 * ours to report, and undefined behaviour must stop the process so that the test sees it. */
#define HARNESS_ASAN_OPTIONS "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0"
#define HARNESS_UBSAN_OPTIONS "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"

/*
 * The registry of running servers (servers.c and dbservers.c share it): an atexit handler calls stop(obj) for
 * every obj still registered, i.e. what a test forgot to stop. The first registration ignores SIGPIPE
 * (harness_ignore_sigpipe) and installs the handler. Registering obj again is a no-op. The objects must outlive
 * the handler (the tests' are usually static). 0, or -1 when all HARNESS_REG_MAX places are taken.
 */
#define HARNESS_REG_MAX 24
int harness_reg_add(void *obj, void (*stop)(void *obj));

/* Forgets obj (a no-op when it is not registered). */
void harness_reg_remove(const void *obj);

#endif
