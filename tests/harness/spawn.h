/*
 * Starting a server process for the harness (pebble.c, servers.c, dbservers.c): one fork + exec with stdin from
 * /dev/null, stdout and stderr appended to a file, and the environment of the test plus the server's own
 * settings. What differs between the callers is asked for in the options: a new process group, another user,
 * another working folder, death with the test.
 */
#ifndef AUTOTLS_TESTS_HARNESS_SPAWN_H
#define AUTOTLS_TESTS_HARNESS_SPAWN_H

#include <sys/types.h>

#define HARNESS_SPAWN_MAX_GROUPS 64

/* The user a child becomes (looked up by the caller: getpwnam and friends are not for the forked child). */
struct harness_creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[HARNESS_SPAWN_MAX_GROUPS];
	int ngroups;
};

struct harness_spawn_opts {
	char *const *argv;       /* argv[0]: an absolute path, or a name looked up in PATH */
	char *const *extra_env;  /* NULL-terminated "NAME=value", replacing ours of the same name; may be NULL */
	const char *drop_prefix; /* our variables whose name starts with this are not passed on; NULL: none */
	const char *out_path;    /* stdout and stderr are appended here (made 0644) */
	const char *cwd;         /* the child's working folder; NULL: ours */
	const struct harness_creds *creds; /* the user it runs as (setgroups, setgid, setuid); NULL: ours */
	int own_group;           /* 1: the child leads a new process group (set in the child and here) */
	int die_with_us;         /* 1: PR_SET_PDEATHSIG SIGKILL, set after the change of user (which clears it) */
};

/*
 * fork + exec as o asks. In the child, in this order: no blocked signals and SIGPIPE back to its default (an
 * ignored signal would stay ignored across exec), the process group, the user, the death signal (and a check
 * that we did not die before it took effect), the folder, the descriptors, exec; a failed step ends the child
 * with status 127 (125: chdir, 126: the user). 0 with *pid_out set, or -1 (nothing started).
 */
int harness_spawn(const struct harness_spawn_opts *o, pid_t *pid_out);

#endif
