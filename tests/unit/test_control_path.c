/*
 * The control socket's address (shim/control_path.c): a short store path is the address itself; a store path
 * longer than sun_path goes through /proc/self/fd/N of the run folder, and a listener bound that way is reached
 * by a client that connects that way (the socket file is in the run folder, at its real path).
 */
#include "shim/control_path.c" /* not in the core archive */
#include "tests/test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64];

static void bind_and_connect(const char *store)
{
	char run[1024], sock[1100];
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd;
	snprintf(run, sizeof(run), "%s/run", store);
	snprintf(sock, sizeof(sock), "%s/control.sock", run);
	REQUIRE(mkdir(store, 0700) == 0 && mkdir(run, 0700) == 0);
	CHECK_OK(ctl_sockaddr(store, &sa, &len, &dirfd));
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, len) == 0 && listen(l, 1) == 0);
	if (dirfd >= 0)
		close(dirfd);
	struct stat st;
	CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK_OK(ctl_sockaddr(store, &sa, &len, &dirfd));
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&sa, len) == 0);
	if (dirfd >= 0)
		close(dirfd);
	close(c);
	close(l);
	unlink(sock);
	rmdir(run);
	rmdir(store);
}

static void short_path_is_the_address(void)
{
	char store[200];
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd;
	snprintf(store, sizeof(store), "%s/s", base);
	CHECK_OK(ctl_sockaddr(store, &sa, &len, &dirfd));
	CHECK_INT(dirfd, ==, -1);
	CHECK(strstr(sa.sun_path, "/s/run/control.sock") != NULL);
	bind_and_connect(store);
}

static void long_path_goes_through_the_folder(void)
{
	char store[400];
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd;
	snprintf(store, sizeof(store), "%s/%0150d", base, 7);
	/* No run folder: nothing to go through. */
	CHECK_INT(ctl_sockaddr(store, &sa, &len, &dirfd), ==, AT_E_NOTFOUND);
	bind_and_connect(store);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/autotls-ctlpath-XXXXXX");
	if (mkdtemp(base) == NULL)
		return 1;
	RUN(short_path_is_the_address);
	RUN(long_path_goes_through_the_folder);
	rmdir(base);
	return TEST_EXIT();
}
