/*
 * One line of /proc/<pid>/stat, read the one careful way: the command name sits between the first '(' and the
 * LAST ')' (a process may name itself anything, ')' and spaces included), the state and the parent follow it.
 * For the manager's liveness checks and the display of a tree's processes; never on a server thread.
 */
#ifndef AUTOTLS_UTIL_PROC_STAT_H
#define AUTOTLS_UTIL_PROC_STAT_H

#include <sys/types.h>

#include "util/err.h"

struct at_proc_stat {
	char comm[64]; /* the kernel keeps 15 bytes; room for a longer one from a future kernel, cut */
	char state;    /* 'R', 'S', ... 'Z' (zombie), 'X' (dead) */
	pid_t ppid;
};

/* 0 with *out filled, AT_E_IO when the process is gone or its line cannot be read, AT_E_PARSE when the line is
 * not what the kernel writes. */
AT_MUST_CHECK int at_proc_stat_read(pid_t pid, struct at_proc_stat *out);

#endif
