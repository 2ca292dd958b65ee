/*
 * The preload for servers, copied out of a private build folder when needed (see libcopy.h).
 *
 * What it owns: the copy's folder, made at most once per test process and removed by that process at exit
 * (never by a forked child, which shares the atexit list).
 */
#include "tests/harness/libcopy.h"
#include "tests/harness/files.h"
#include "tests/harness/proc.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char copy_dir[PATH_MAX];
static pid_t copy_owner;

static void remove_copy(void)
{
	if (copy_dir[0] != '\0' && getpid() == copy_owner)
		harness_remove_tree(copy_dir);
}

int harness_reachable_by_others(const char *path)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s", path);
	if (stat(p, &st) != 0 || !(st.st_mode & S_IROTH))
		return 0;
	for (char *slash = strrchr(p, '/'); slash != NULL; slash = strrchr(p, '/')) {
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(p, &st) != 0 || !(st.st_mode & S_IXOTH))
			return 0;
		if (slash == p)
			break;
	}
	return 1;
}

int harness_shim_lib_for_servers(char *out, size_t cap)
{
	static const struct {
		const char *name;
		mode_t mode;
	} files[] = { { "libautotls.so", 0644 }, { "libautotls-manager.so", 0644 }, { "autotls-manager", 0755 } };
	char lib[PATH_MAX], from[PATH_MAX + 32], to[PATH_MAX + 32];
	if (harness_shim_lib_path(lib, sizeof(lib)) != 0)
		return -1;
	if (harness_reachable_by_others(lib)) {
		snprintf(out, cap, "%s", lib);
		return 0;
	}
	char *slash = strrchr(lib, '/');
	*slash = '\0';
	if (copy_dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		const char *base = strrchr(lib, '/');
		if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 150)
			tmp = "/tmp";
		snprintf(copy_dir, sizeof(copy_dir), "%s/autotls-lib-%.60s-XXXXXX", tmp, base ? base + 1 : "build");
		if (mkdtemp(copy_dir) == NULL || chmod(copy_dir, 0755) != 0) {
			fprintf(stderr, "  shim: cannot make a folder for a copy of the preload (%s)\n", copy_dir);
			copy_dir[0] = '\0';
			return -1;
		}
		copy_owner = getpid();
		atexit(remove_copy);
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(from, sizeof(from), "%s/%s", lib, files[i].name);
			snprintf(to, sizeof(to), "%s/%s", copy_dir, files[i].name);
			if (harness_copy_file(from, to, files[i].mode) != 0) {
				fprintf(stderr, "  shim: cannot copy %s to %s\n", from, to);
				return -1;
			}
		}
		fprintf(stderr, "  shim: %s is not reachable by other users; servers load a copy in %s\n", lib,
			copy_dir);
	}
	int n = snprintf(out, cap, "%s/libautotls.so", copy_dir);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}
