/* The control socket's address (control_path.h). */
#include "shim/control_path.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int ctl_sockaddr(const char *storage, struct sockaddr_un *sa, socklen_t *len, int *dirfd)
{
	char dir[4096];
	*dirfd = -1;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/" CTL_DIR "/" CTL_SOCK, storage);
	if (n < 0)
		return AT_E_TOOBIG;
	if ((size_t)n >= sizeof(sa->sun_path)) {
		/* Too long for an address: the run folder by descriptor (the path through /proc resolves to it). */
		n = snprintf(dir, sizeof(dir), "%s/" CTL_DIR, storage);
		if (n < 0 || (size_t)n >= sizeof(dir))
			return AT_E_TOOBIG;
		*dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (*dirfd < 0)
			return AT_E_NOTFOUND;
		snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/" CTL_SOCK, *dirfd);
	}
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sa->sun_path) + 1);
	return 0;
}
