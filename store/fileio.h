/*
 * File primitives of the file backend, all relative to a directory descriptor and all refusing symbolic links
 * (O_NOFOLLOW at every step), so that nothing planted inside the store can lead a read or a write outside it.
 */
#ifndef AUTOTLS_STORE_FILEIO_H
#define AUTOTLS_STORE_FILEIO_H

#include "util/err.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define AT_FIO_TMP_PREFIX ".tmp-"

/* Maps an errno value to an AT_E_* code (ENOSPC and EDQUOT: AT_E_NOSPACE; EACCES, EPERM, EROFS: AT_E_PERM;
 * ENOENT: AT_E_NOTFOUND; a symbolic link or a file where a folder should be: AT_E_STORE). */
int at_fio_err(int e);

/* Opens the folder at path[0..len) below dirfd ('/'-separated components that the caller checked), creating
 * missing folders 0700 when create is set. len 0 gives a duplicate of dirfd. *out is a new descriptor. */
int at_fio_open_dir(int *out, int dirfd, const char *path, size_t len, int create)
	AT_MUST_CHECK;

/* Reads the regular file name in dirfd, at most max bytes (else AT_E_TOOBIG). *val is new, NUL-terminated,
 * caller frees (cleanse first: values are secret). */
int at_fio_read(int dirfd, const char *name, size_t max, char **val, size_t *len) AT_MUST_CHECK;

/* Replaces name in dirfd atomically and durably: a ".tmp-" file (exclusive create, 0600), write, fsync, rename,
 * fsync of the folder. The temporary is unlinked on every error path. */
int at_fio_write(int dirfd, const char *name, const void *val, size_t len) AT_MUST_CHECK;

/* The same, for values shared read-only with a group (AUTOTLS_STORAGE_GROUP): folders created or met on the way
 * become 0750 with group gid, the file 0640 with group gid. gid (gid_t)-1 means private, as above. */
int at_fio_open_dir_shared(int *out, int dirfd, const char *path, size_t len, int create, gid_t gid)
	AT_MUST_CHECK;
int at_fio_write_shared(int dirfd, const char *name, const void *val, size_t len, gid_t gid)
	AT_MUST_CHECK;
/* The same for a value anyone may read (a certificate chain, never a key): the file 0644. */
int at_fio_write_public(int dirfd, const char *name, const void *val, size_t len) AT_MUST_CHECK;
/* Makes the store's root folder 0750 with group gid (when we own it). */
int at_fio_share_root(int root, gid_t gid) AT_MUST_CHECK;

/* Removes name in dirfd and, for a folder, everything below it (without following links). Absent is fine. */
int at_fio_remove(int dirfd, const char *name) AT_MUST_CHECK;

/* Best effort: unlinks ".tmp-" files older than max_age_s below dirfd (an interrupted write left them). */
void at_fio_sweep(int dirfd, time_t max_age_s);

/* Fills out with 2*n lowercase hex characters from the kernel's random source, NUL-terminated. */
int at_fio_random_hex(char *out, size_t n) AT_MUST_CHECK;

#endif
