/*
 * The command's side of the control channel (shim/manager/control.c): connect to <storage>/run/control.sock,
 * send one JSON line, read one JSON line back within a timeout. Who may connect is the manager's to decide
 * (SO_PEERCRED); a refusal here is its one line, or the kernel's EACCES on the store's folder.
 */
#include "tools/autotls/cli.h"
#include "shim/control_path.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cli_control_ask(cJSON **reply, const struct cli_settings *s, const char *line, long timeout_ms, char *why,
		    size_t size)
{
	const char *storage = s->cfg.state_dir; /* the control socket is in the host's own folder */
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd = -1, code;
	char buf[CTL_LINE_MAX * 4];
	size_t got = 0;

	*reply = NULL;
	int rc = ctl_sockaddr(storage, &sa, &len, &dirfd);
	if (rc != 0) {
		snprintf(why, size, "no server under the preload runs on the store %s (no %s/" CTL_DIR " folder)",
			 storage, storage);
		return rc == AT_E_NOTFOUND ? CLI_NO_MANAGER : CLI_FAIL;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) != 0) {
		int e = errno;
		if (dirfd >= 0)
			close(dirfd);
		if (fd >= 0)
			close(fd);
		if (e == EACCES || e == EPERM) {
			snprintf(why, size, "refused: cannot reach the control channel of %s (%s); only root and the "
					    "server's user may use it", storage, strerror(e));
			return CLI_REFUSED;
		}
		snprintf(why, size, "no server under the preload runs on the store %s (its control channel: %s); "
				    "start the server, or check AUTOTLS_STORAGE (--storage)", storage, strerror(e));
		return CLI_NO_MANAGER;
	}
	if (dirfd >= 0)
		close(dirfd);
	code = CLI_FAIL;
	size_t n = strlen(line);
	/* A peer the manager refuses gets its line and a close at once, maybe before this send: the line is read
	 * all the same. */
	int send_errno = send(fd, line, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : errno;
	long long until = now_ms() + timeout_ms;
	for (;;) {
		long long left = until - now_ms();
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			snprintf(why, size, "no answer from the manager of %s within %ld s; it may still be working (see "
					    "its log, or autotls status)", storage, timeout_ms / 1000);
			code = CLI_TIMEOUT;
			goto out;
		}
		ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		buf[got] = '\0';
		if (memchr(buf, '\n', got) != NULL || got + 1 >= sizeof(buf))
			break;
	}
	buf[got] = '\0';
	*reply = cJSON_Parse(buf);
	if (*reply == NULL) {
		snprintf(why, size, "the manager of %s closed the control channel without an answer%s%s", storage,
			 send_errno ? ": " : "", send_errno ? strerror(send_errno) : "");
		goto out;
	}
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(*reply, "error"));
	if (err != NULL && strncmp(err, "refused:", 8) == 0) {
		snprintf(why, size, "%s", err);
		cJSON_Delete(*reply);
		*reply = NULL;
		code = CLI_REFUSED;
		goto out;
	}
	code = CLI_OK;
out:
	close(fd);
	return code;
}

int cli_control_command(cJSON *req, const char *what, const char *storage_opt, long timeout_s,
			cli_no_manager_fn no_manager, void *arg)
{
	char *line = req != NULL ? cJSON_PrintUnformatted(req) : NULL;
	cJSON_Delete(req);
	struct cli_settings s;
	if (line == NULL || strlen(line) + 2 > CTL_REQ_MAX || cli_settings_read(&s, storage_opt) != 0) {
		free(line);
		return CLI_FAIL;
	}
	char msg[CTL_REQ_MAX], why[600];
	snprintf(msg, sizeof(msg), "%s\n", line);
	free(line);
	cJSON *r = NULL;
	int code = cli_control_ask(&r, &s, msg, timeout_s * 1000, why, sizeof(why));
	if (code == CLI_OK)
		code = cli_print_answer(r, what);
	else if (code == CLI_NO_MANAGER && no_manager != NULL)
		code = no_manager(&s, arg);
	else
		fprintf(stderr, "autotls %s: %s\n", what, why);
	cJSON_Delete(r);
	cli_settings_clear(&s);
	return code;
}
