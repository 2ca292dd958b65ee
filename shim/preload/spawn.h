/* Starting the manager process of a process tree (see spawn.c). */
#ifndef AUTOTLS_SHIM_PRELOAD_SPAWN_H
#define AUTOTLS_SHIM_PRELOAD_SPAWN_H

#include "util/err.h"

/* Starts path detached, with the region (shm_fd: any descriptor of it, read-only is enough: the child reopens
 * it read-write), the untrusted channel and a lifeline; keep_stderr hands it this process's stderr (a
 * terminal the log goes to), else it gets /dev/null. Returns 0 once the manager runs on its own (it has
 * written its pid into the region), or a negative error (logged). */
int spawn_manager(const char *path, int shm_fd, int chan_fd, int keep_stderr) AT_MUST_CHECK;

#endif
