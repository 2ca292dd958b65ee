/*
 * File primitives of the file backend (see store/fileio.h). Why each step of at_fio_write is there:
 * O_EXCL|O_NOFOLLOW so a planted file or link is never written through; fchmod because the umask could have
 * widened nothing but may have narrowed the mode in a way the caller did not expect; fsync before rename so the
 * new name never points at blocks that a crash could lose; fsync of the folder so the rename itself survives.
 */
#include "store/fileio.h"
#include "util/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SWEEP_DEPTH 16
#define RM_DEPTH 16

int at_fio_err(int e)
{
	switch (e) {
	case 0:
		return AT_E_IO;
	case ENOENT:
		return AT_E_NOTFOUND;
	case ENOSPC:
	case EDQUOT:
		return AT_E_NOSPACE;
	case EACCES:
	case EPERM:
	case EROFS:
		return AT_E_PERM;
	case ENOMEM:
		return AT_E_NOMEM;
	case ELOOP:
	case ENOTDIR:
	case EISDIR:
		return AT_E_STORE;
	case ENAMETOOLONG:
		return AT_E_BADNAME;
	default:
		return AT_E_IO;
	}
}

/* Makes a folder readable (not writable) by group gid: 0750 and that group. Only what we own is changed. */
static int share_fd(int fd, gid_t gid, mode_t mode)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	if (st.st_uid != geteuid())
		return 0;
	if (st.st_gid != gid && fchown(fd, (uid_t)-1, gid) != 0)
		return -1;
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) != 0)
		return -1;
	return 0;
}

static int open_sub(int dirfd, const char *name, int create, gid_t gid)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST)
			return -1;
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* the umask may have taken bits away, never added any; make the folder exactly 0700 */
		if (fd >= 0 && gid == (gid_t)-1 && fchmod(fd, 0700) != 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
	}
	if (fd >= 0 && create && gid != (gid_t)-1 && share_fd(fd, gid, 0750) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int at_fio_share_root(int root, gid_t gid)
{
	return share_fd(root, gid, 0750) == 0 ? 0 : at_fio_err(errno);
}

int at_fio_open_dir(int *out, int dirfd, const char *path, size_t len, int create)
{
	return at_fio_open_dir_shared(out, dirfd, path, len, create, (gid_t)-1);
}

int at_fio_open_dir_shared(int *out, int dirfd, const char *path, size_t len, int create, gid_t gid)
{
	char comp[256];
	size_t start = 0;
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		return at_fio_err(errno);
	while (start < len) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		if (end - start == 0 || end - start >= sizeof comp) {
			close(fd);
			return AT_E_BADNAME;
		}
		memcpy(comp, path + start, end - start);
		comp[end - start] = '\0';
		int next = open_sub(fd, comp, create, gid);
		int e = errno;
		close(fd);
		if (next < 0)
			return at_fio_err(e);
		fd = next;
		start = end + 1;
	}
	*out = fd;
	return 0;
}

int at_fio_read(int dirfd, const char *name, size_t max, char **val, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int rc;
	/* O_NONBLOCK: a FIFO planted under the store must not hang the reader (it is refused just below). */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return at_fio_err(errno);
	if (fstat(fd, &st) != 0) {
		rc = at_fio_err(errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = AT_E_STORE;
		goto out;
	}
	if ((unsigned long long)st.st_size > max) {
		rc = AT_E_TOOBIG;
		goto out;
	}
	/* room for what fstat saw plus a margin, never more than max+1 (enough to notice "too big") */
	size_t cap = max + 1 < (size_t)st.st_size + 4096 ? max + 1 : (size_t)st.st_size + 4096;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = AT_E_NOMEM;
		goto out;
	}
	for (;;) {
		if (n == cap) {
			/* it grew after fstat: the writer is not ours (ours rename whole files) */
			rc = n > max ? AT_E_TOOBIG : AT_E_IO;
			goto out;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = at_fio_err(errno);
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		rc = AT_E_TOOBIG;
		goto out;
	}
	buf[n] = '\0';
	*val = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	close(fd);
	return rc;
}

int at_fio_random_hex(char *out, size_t n)
{
	unsigned char b[64];
	size_t got = 0;

	if (n > sizeof b)
		return AT_E_RANGE;
	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return AT_E_IO;
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	out[2 * n] = '\0';
	return 0;
}

static int write_all(int fd, const void *val, size_t len)
{
	const char *p = val;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return at_fio_err(errno);
		if (w == 0)
			return AT_E_IO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int at_fio_write(int dirfd, const char *name, const void *val, size_t len)
{
	return at_fio_write_shared(dirfd, name, val, len, (gid_t)-1);
}

/* The write every variant makes: the temporary gets group gid (unless -1) and mode before any byte goes in. */
static int write_file(int dirfd, const char *name, const void *val, size_t len, gid_t gid, mode_t mode)
{
	char tmp[sizeof AT_FIO_TMP_PREFIX + 32];
	int fd = -1, rc, made = 0;

	for (int tries = 0; tries < 8 && fd < 0; tries++) {
		memcpy(tmp, AT_FIO_TMP_PREFIX, sizeof AT_FIO_TMP_PREFIX - 1);
		rc = at_fio_random_hex(tmp + sizeof AT_FIO_TMP_PREFIX - 1, 12);
		if (rc != 0)
			return rc;
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0 && errno != EEXIST)
			return at_fio_err(errno);
	}
	if (fd < 0)
		return AT_E_IO;
	made = 1;
	if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) || fchmod(fd, mode) != 0) {
		rc = at_fio_err(errno);
		goto out;
	}
	rc = write_all(fd, val, len);
	if (rc != 0)
		goto out;
	if (fsync(fd) != 0) {
		rc = at_fio_err(errno);
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = at_fio_err(errno);
		goto out;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, name) != 0) {
		rc = at_fio_err(errno);
		goto out;
	}
	made = 0;
	/* The rename is done; a failed folder fsync means it may not survive a crash, which the caller must hear. */
	if (fsync(dirfd) != 0) {
		rc = at_fio_err(errno);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlinkat(dirfd, tmp, 0);
	return rc;
}

int at_fio_write_shared(int dirfd, const char *name, const void *val, size_t len, gid_t gid)
{
	/* Private (0600) unless the value is shared with a reader group: then 0640 and that group. */
	return write_file(dirfd, name, val, len, gid, gid != (gid_t)-1 ? 0640 : 0600);
}

int at_fio_write_public(int dirfd, const char *name, const void *val, size_t len)
{
	return write_file(dirfd, name, val, len, (gid_t)-1, 0644);
}

static int remove_tree(int parent, const char *name, int depth)
{
	struct stat st;
	DIR *d = NULL;
	int fd = -1, rc = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : at_fio_err(errno);
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : at_fio_err(errno);
	if (depth <= 0)
		return AT_E_RANGE;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return at_fio_err(errno);
	d = fdopendir(fd);
	if (d == NULL) {
		rc = at_fio_err(errno);
		close(fd);
		return rc;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = remove_tree(dirfd(d), de->d_name, depth - 1);
		if (rc != 0)
			break;
	}
	closedir(d);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		rc = at_fio_err(errno);
	return rc;
}

int at_fio_remove(int dirfd, const char *name)
{
	int rc = remove_tree(dirfd, name, RM_DEPTH);

	if (rc == 0 && fsync(dirfd) != 0)
		rc = at_fio_err(errno);
	return rc;
}

static void sweep(int dirfd, time_t cutoff, int depth)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISREG(st.st_mode) &&
		    strncmp(de->d_name, AT_FIO_TMP_PREFIX, sizeof AT_FIO_TMP_PREFIX - 1) == 0 &&
		    st.st_mtime < cutoff) {
			unlinkat(dirfd, de->d_name, 0);
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				sweep(sub, cutoff, depth - 1);
				close(sub);
			}
		}
	}
	closedir(d);
}

void at_fio_sweep(int dirfd, time_t max_age_s)
{
	sweep(dirfd, time(NULL) - max_age_s, SWEEP_DEPTH);
}
