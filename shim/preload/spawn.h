/* Starting the manager process of a process tree (see spawn.c). */
#ifndef AUTOTLS_SHIM_PRELOAD_SPAWN_H
#define AUTOTLS_SHIM_PRELOAD_SPAWN_H

#include <sys/types.h>

/* Starts path with the region's memfd and a lifeline. Returns its pid, or -1 (logged). */
pid_t spawn_manager(const char *path, int shm_fd);

#endif
