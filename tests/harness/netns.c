/* See netns.h. */
#include "tests/harness/netns.h"

#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int harness_netns_private(void)
{
	struct ifreq ifr;
	int fd, rc = -1;

	if (unshare(CLONE_NEWNET) != 0) {
		perror("  unshare(CLONE_NEWNET) (the test needs root, or CAP_SYS_ADMIN)");
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		perror("  bringing up lo in the test's network namespace");
	return rc;
}
