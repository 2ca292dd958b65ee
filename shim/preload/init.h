/*
 * The library's life in a host process: the constructor reads the configuration (before the host forks,
 * daemonises, drops privileges or scrubs its environment); the first server context a process makes maps the
 * shared region (servers make their contexts before they fork workers) and loads libautotls-manager.so from the folder libautotls.so was loaded from and hands it the host API.
 * A process that never makes a server context (a shell, `nginx -t`) does nothing more than read a few
 * environment variables.
 */
#ifndef AUTOTLS_SHIM_PRELOAD_INIT_H
#define AUTOTLS_SHIM_PRELOAD_INIT_H

#include <stdbool.h>

/* Whether the configuration is valid and names domains. */
bool shim_active(void);

/* Whether this is a thread of the manager (its own TLS contexts, libcurl's, must pass through untouched). */
bool shim_in_manager(void);

/* A server context was just hooked in this process. */
void shim_on_server_ctx(void);

#endif
