/* Running a command line and keeping its output (see command.h). */
#include "tests/harness/command.h"

#include <stdio.h>
#include <sys/wait.h>

int harness_command(const char *cmdline, char *out, size_t cap)
{
	size_t n = 0, r;
	char sink[512];
	FILE *f = popen(cmdline, "r");
	if (out != NULL && cap > 0)
		out[0] = '\0';
	if (f == NULL)
		return -1;
	/* Read to the end even past cap: a writer blocked on a full pipe would never exit. */
	while ((r = fread(out && n + 1 < cap ? out + n : sink, 1,
			  out && n + 1 < cap ? cap - 1 - n : sizeof(sink), f)) > 0)
		if (out && n + 1 < cap)
			n += r;
	if (out != NULL && cap > 0)
		out[n] = '\0';
	int st = pclose(f);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}
