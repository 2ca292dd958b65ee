/* Starting the manager process of a process tree (see spawn.c). */
#ifndef AUTOTLS_SHIM_PRELOAD_SPAWN_H
#define AUTOTLS_SHIM_PRELOAD_SPAWN_H

#include "util/err.h"

#include <sys/types.h>

/* Starts path with the region's memfd and a lifeline; *pid gets its pid. Returns 0 or AT_E_IO (logged when the
 * start itself failed). */
int spawn_manager(const char *path, int shm_fd, pid_t *pid) AT_MUST_CHECK;

#endif
