/*
 * Starting a server process (see spawn.h).
 *
 * What it owns: nothing once it returns; the environment array it builds is freed here (its strings are
 * borrowed from ours and from the caller's), and the two descriptors it opens are closed in the parent.
 */
#include "tests/harness/spawn.h"
#include "tests/harness/proc.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int harness_spawn(const struct harness_spawn_opts *o, pid_t *pid_out)
{
	const struct harness_creds *c = o->creds;
	pid_t parent = getpid(), pid = -1;
	int outfd, nullfd;
	char **env;

	outfd = open(o->out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	env = harness_make_env_without(o->extra_env, o->drop_prefix);
	if (outfd < 0 || nullfd < 0 || env == NULL)
		goto out;
	pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls from here on. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (o->own_group && setpgid(0, 0) != 0)
			_exit(127);
		if (c != NULL &&
		    (setgroups((size_t)c->ngroups, c->groups) != 0 || setgid(c->gid) != 0 || setuid(c->uid) != 0))
			_exit(126);
		if (o->die_with_us && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
			_exit(127);
		if (o->cwd != NULL && chdir(o->cwd) != 0)
			_exit(125);
		if (dup2(nullfd, 0) < 0 || dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
			_exit(127);
		execvpe(o->argv[0], o->argv, env);
		_exit(127);
	}
	if (pid > 0 && o->own_group)
		setpgid(pid, pid); /* also here: no window in which a stop would miss the group */
out:
	free(env);
	if (outfd >= 0)
		close(outfd);
	if (nullfd >= 0)
		close(nullfd);
	if (pid <= 0)
		return -1;
	*pid_out = pid;
	return 0;
}
