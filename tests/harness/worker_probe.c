/* The worker probe from a scenario (see worker_probe.h). */
#include "tests/harness/worker_probe.h"
#include "tests/harness/proc.h"
#include "tests/test.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char out_file[400];
static char setting[480] = "AUTOTLS_TEST_PROBE_OUT=/dev/null";

const char *worker_probe_setting(void)
{
	return setting;
}

int worker_probe_prepare(struct shim_env *e, const char *lib)
{
	char pre[2 * PATH_MAX];
	if (lib == NULL)
		lib = e->lib;
	/* The value for e->lib (it names the sanitizer's runtime first when the build has one), then lib in its
	 * place. */
	const char *slash = strrchr(e->lib, '/'); /* <abs>/build/libautotls.so: the probe is built beside it */
	if (slash == NULL || harness_preload_value(pre, sizeof(pre), e->lib, NULL) != 0)
		return -1;
	size_t keep = strlen(pre) - strlen(e->lib);
	int n = snprintf(e->e_preload, sizeof(e->e_preload), "LD_PRELOAD=%.*s%s:%.*s/tests/integ/worker_probe_preload.so",
			 (int)keep, pre, lib, (int)(slash - e->lib), e->lib);
	if (n <= 0 || (size_t)n >= sizeof(e->e_preload))
		return -1;
	snprintf(out_file, sizeof(out_file), "%s/probe.out", e->dir);
	snprintf(setting, sizeof(setting), "AUTOTLS_TEST_PROBE_OUT=%s", out_file);
	int fd = open(out_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	int rc = fd >= 0 && fchmod(fd, 0666) == 0 ? 0 : -1; /* the workers run as www-data */
	if (fd >= 0)
		close(fd);
	return rc;
}

int worker_probe_wait(char lines[][WORKER_PROBE_LINE], int max, int n, long timeout_ms)
{
	long t0 = harness_now_ms();
	int got = 0;
	for (;;) {
		FILE *f = fopen(out_file, "r");
		got = 0;
		while (f && got < max && fgets(lines[got], WORKER_PROBE_LINE, f))
			got++;
		if (f)
			fclose(f);
		if (got >= n || harness_now_ms() - t0 >= timeout_ms)
			return got;
		harness_sleep_ms(100);
	}
}

/* Whether the line holds the field ("name=value") as a whole word. */
static int has(const char *line, const char *field)
{
	char want[80], copy[WORKER_PROBE_LINE + 4];
	snprintf(want, sizeof(want), " %s ", field);
	snprintf(copy, sizeof(copy), " %.*s ", (int)strcspn(line, "\n"), line);
	return strstr(copy, want) != NULL;
}

void worker_probe_check(const char *line)
{
	printf("  probe: %s", line);
	CHECK(!has(line, "uid=0"));
	CHECK(has(line, "maps=1") && has(line, "perms=r--s")); /* one mapping of the region, read-only */
	CHECK(has(line, "fds=1") && has(line, "rw_fds=0"));    /* one descriptor of it, O_RDONLY */
	CHECK(has(line, "store=SIGSEGV"));
	CHECK(has(line, "mprotect=EACCES"));
	CHECK(has(line, "mmap_rw=EACCES"));
	CHECK(has(line, "pwrite=EBADF"));
	CHECK(has(line, "fchmod=EPERM"));
	CHECK(has(line, "reopen_self=EACCES"));
	CHECK(has(line, "reopen_master=EACCES"));
	CHECK(has(line, "map_files=EPERM"));
	CHECK(has(line, "chan_perms=rw-s"));
	char posted[32];
	snprintf(posted, sizeof(posted), "posted=%d", WORKER_PROBE_POSTS);
	CHECK(has(line, posted));
}
