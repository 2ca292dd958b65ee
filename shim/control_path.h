/*
 * Where the control channel of a store lives, for the manager that listens (shim/manager/control.c) and the
 * `autotls` command that connects (tools/autotls/control.c): <storage>/run/control.sock. Under the store, not
 * /run: every store has its own manager (one leader per store, manager.lock), a server running as a plain user
 * has no /run to write, and the store's folder (0700, the server's user) already keeps everyone else out before
 * the manager's own peer check (SO_PEERCRED) is reached.
 */
#ifndef AUTOTLS_SHIM_CONTROL_PATH_H
#define AUTOTLS_SHIM_CONTROL_PATH_H

#include "util/err.h"

#include <sys/socket.h>
#include <sys/un.h>

#define CTL_DIR "run"
#define CTL_SOCK "control.sock"
#define CTL_LINE_MAX 4096 /* a request or an answer line, newline included */

/* The address of storage's control socket into *sa and *len. A path longer than sun_path goes through a
 * descriptor of the run folder (/proc/self/fd/N/control.sock): *dirfd gets it (close it after the bind or the
 * connect; -1 when none was needed). 0, AT_E_NOTFOUND (no run folder, only when one was needed) or
 * AT_E_TOOBIG. */
int ctl_sockaddr(const char *storage, struct sockaddr_un *sa, socklen_t *len, int *dirfd) AT_MUST_CHECK;

#endif
