/* See proc_stat.h. */
#include "util/proc_stat.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int at_proc_stat_read(pid_t pid, struct at_proc_stat *out)
{
	char path[64], buf[512];

	snprintf(out->comm, sizeof(out->comm), "?");
	out->state = '?';
	out->ppid = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return AT_E_IO;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return AT_E_IO;
	buf[n] = '\0';
	const char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
	if (open_p == NULL || close_p == NULL || close_p < open_p)
		return AT_E_PARSE;
	int ppid;
	char state;
	if (sscanf(close_p + 1, " %c %d", &state, &ppid) != 2)
		return AT_E_PARSE;
	snprintf(out->comm, sizeof(out->comm), "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	out->state = state;
	out->ppid = (pid_t)ppid;
	return 0;
}
