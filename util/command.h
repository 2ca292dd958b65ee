/*
 * Running a user's command (AUTOTLS_DNS_HOOK, AUTOTLS_HOOK) as a guest that takes nothing of its host: no shell
 * (posix_spawn of the path itself), stdin on /dev/null, stdout on /dev/null or into the capture, stderr into the
 * capture (the first AT_COMMAND_OUTPUT_MAX bytes kept, the rest read and dropped), every descriptor above 2
 * closed, default signal dispositions and an empty signal mask, a process group of its own. It is waited for by
 * its pid only (never waitpid(-1): the host's children are the host's) and, past the time limit, killed with
 * its whole group (SIGKILL) and reaped.
 *
 * posix_spawn rather than fork: glibc's does not run pthread_atfork handlers, and the shim's take the quiesce
 * lock the manager thread holds and start a manager thread in the child. A host that reaps children itself (a
 * SIGCHLD handler calling waitpid(-1)) can take the status: the result then says it is unknown.
 *
 * at_command_run blocks for up to the time limit and takes no lock: a caller that holds one (the shim's manager
 * holds its quiesce lock) releases it around the call (challenge/wait_hooks.h, mgr_quiesce_leave). Never on a
 * server thread.
 */
#ifndef AUTOTLS_UTIL_COMMAND_H
#define AUTOTLS_UTIL_COMMAND_H

#include "util/err.h"

#include <stddef.h>

#define AT_COMMAND_OUTPUT_MAX 4096

struct at_command {
	const char *path;       /* an absolute path to an executable */
	char *const *argv;      /* NULL-terminated, argv[0] first */
	char *const *envp;      /* NULL-terminated; NULL: this process's environment */
	long timeout_ms;        /* then killed with its process group */
	int capture_stdout;     /* 1: stdout into the capture with stderr; 0: stdout on /dev/null */
	/* Optional: called about once a second while the command runs (a caller that must keep something alive
	 * meanwhile, such as the issue lock's lease); the first non-zero it returns goes to tick_rc and it is not
	 * called again. The command runs on. */
	int (*tick)(void *ctx);
	void *tick_ctx;
};

struct at_command_result {
	int exited;             /* 1: status is the exit status */
	int status;
	int signal;             /* killed by this signal (not by us); exited and signal both 0: reaped elsewhere */
	int timed_out;          /* killed by us at the time limit */
	int spawn_errno;        /* when it could not be started */
	int tick_rc;            /* the first non-zero the tick returned, else 0 */
	char out[AT_COMMAND_OUTPUT_MAX + 1]; /* the capture, NUL-terminated (it may hold NULs of its own) */
	size_t outlen;
};

/* Runs cmd and waits for it (see above), filling *r. Returns 0 when it ran (r says how it ended) or AT_E_IO when
 * it could not be started (r->spawn_errno says why). Borrows cmd. */
int at_command_run(const struct at_command *cmd, struct at_command_result *r) AT_MUST_CHECK;

/* Line i (0 first) of r's capture, made printable (controls as '?'), into out (at most cap-1 bytes). Returns 0,
 * or AT_E_NOTFOUND when the capture has no line i (blank lines are skipped). */
int at_command_line(char *out, size_t cap, const struct at_command_result *r, size_t i) AT_MUST_CHECK;

#endif
