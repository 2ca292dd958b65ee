/*
 * The worker probe (tests/integ/worker_probe_preload.c) from a scenario: preloading it into the server under
 * test beside libautotls.so, reading the one line each probed process (every process of the server that is
 * not root, as its event loop starts) writes, and judging that line: every attempt to write the shared region
 * failed the way the kernel refuses it, and the untrusted channel was there to write into. test_308, test_309.
 */
#ifndef AUTOTLS_TESTS_HARNESS_WORKER_PROBE_H
#define AUTOTLS_TESTS_HARNESS_WORKER_PROBE_H

#include "tests/harness/shim_env.h"

#define WORKER_PROBE_LINE 1024
#define WORKER_PROBE_POSTS 6 /* requests each probe posts into the channel, none of which may be ordered */

/* "AUTOTLS_TEST_PROBE_OUT=<file>" for shim_env_extra, set before shim_env_prepare (the value is filled in by
 * worker_probe_prepare; the pointer stays the same). */
const char *worker_probe_setting(void);

/* After shim_env_prepare: LD_PRELOAD becomes [the sanitizer's runtime:]lib:<the probe> (lib NULL: e->lib; the
 * probe is the one built beside e->lib), and the probe's output file is made in e->dir, writable by the
 * server's unprivileged processes. 0 or -1. */
int worker_probe_prepare(struct shim_env *e, const char *lib);

/* Waits up to timeout_ms until at least n processes have written their line; how many lines there are (up to
 * max), copied into lines. */
int worker_probe_wait(char lines[][WORKER_PROBE_LINE], int max, int n, long timeout_ms);

/* Checks one probe line (CHECKs count against the calling test): not root; one read-only mapping and one
 * O_RDONLY descriptor of the region; the store SIGSEGV, mprotect and a writable mmap EACCES, pwrite EBADF,
 * fchmod EPERM, reopening read-write through /proc/self/fd and the parent's /proc/<pid>/fd EACCES, through
 * /proc/self/map_files EPERM; the channel mapped read-write and every request posted. Prints the line. */
void worker_probe_check(const char *line);

#endif
