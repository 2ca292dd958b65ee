/*
 * The control channel when no manager process runs (issue 13): with no autotls-manager beside the library (a
 * folder holding only links to libautotls.so and libautotls-manager.so, as test_309), nginx's root master leads
 * in-process, and its manager thread serves the channel. `autotls status --json` shows an in-process leader, the
 * master (the leader) and both workers serving the newest certificate; `autotls renew --force` has a new serial
 * that status shows in both workers and every handshake gets; the workers the master forked hold no copy of the
 * control socket (the fork handler closes it).
 */
#include "tests/harness/command.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shim_env e;
static char cli[PATH_MAX], out[32768];

static int libs_without_manager(void)
{
	char dir[400], lib[480], link[480], target[PATH_MAX];
	const char *slash = strrchr(e.lib, '/');
	snprintf(dir, sizeof(dir), "%s/lib", e.dir);
	snprintf(lib, sizeof(lib), "%s/libautotls.so", dir);
	snprintf(link, sizeof(link), "%s/libautotls-manager.so", dir);
	snprintf(target, sizeof(target), "%.*s/libautotls-manager.so", slash ? (int)(slash - e.lib) : 0, e.lib);
	if (mkdir(dir, 0755) != 0 || chmod(dir, 0755) != 0 || symlink(e.lib, lib) != 0 || symlink(target, link) != 0)
		return -1;
	snprintf(e.e_preload, sizeof(e.e_preload), "LD_PRELOAD=%s", lib);
	return 0;
}

static int autotls(const char *args)
{
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "env AUTOTLS_CA=%s AUTOTLS_CA_ROOTS=%s %s --storage %s %s 2>&1", e.p.directory_url,
		 e.ca_roots, cli, e.store, args);
	return harness_command(cmd, out, sizeof(out));
}

/* Counts status's processes: workers serving the newest, and the leader's role; -1 when status fails. */
static int workers_newest(const char *serial, int *master_leads)
{
	*master_leads = 0;
	if (autotls("status --json") != 0)
		return -1;
	cJSON *j = cJSON_Parse(out);
	const cJSON *srv = cJSON_GetObjectItemCaseSensitive(j, "server"), *p;
	const char *leader = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(srv, "leader"));
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(srv, "serial"));
	int n = leader && strcmp(leader, "in-process") == 0 && s && strcasecmp(s, serial) == 0 ? 0 : -1;
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(srv, "processes"))
	{
		const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "role")) ?: "";
		int newest = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "serving_newest"));
		if (n >= 0 && strcmp(role, "worker") == 0 && newest)
			n++;
		if (strcmp(role, "master") == 0 && newest && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "leader")))
			*master_leads = 1;
		if (strcmp(role, "manager") == 0)
			n = -1; /* no manager process here */
	}
	if (n < 0)
		fprintf(stderr, "%s\n", out);
	cJSON_Delete(j);
	return n;
}

/* Whether pid holds a descriptor of a Unix socket bound at path (its /proc/<pid>/fd against /proc/net/unix). */
static int holds_socket(pid_t pid, const char *path)
{
	char line[1024], want[16][40];
	int nwant = 0;
	FILE *f = fopen("/proc/net/unix", "r");
	while (f && fgets(line, sizeof(line), f) && nwant < 16) {
		unsigned long in;
		if (strstr(line, path) && sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &in) == 1)
			snprintf(want[nwant++], sizeof(want[0]), "socket:[%lu]", in);
	}
	if (f)
		fclose(f);
	if (nwant == 0)
		return -1;
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	int found = 0;
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char fp[320], target[64];
		snprintf(fp, sizeof(fp), "%s/%s", dir, de->d_name);
		ssize_t n = readlink(fp, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		for (int k = 0; k < nwant; k++)
			found |= strcmp(target, want[k]) == 0;
	}
	if (d)
		closedir(d);
	return found;
}

/* The children of pid (from /proc/<n>/stat), at most max. */
static int children_of(pid_t pid, pid_t *kids, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;
	while (d && (de = readdir(d)) != NULL && n < max) {
		char path[300], buf[512];
		int child = atoi(de->d_name), ppid = 0;
		if (child <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", child);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		size_t len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = '\0';
		const char *close_p = strrchr(buf, ')');
		if (close_p && sscanf(close_p + 1, " %*c %d", &ppid) == 1 && ppid == (int)pid)
			kids[n++] = (pid_t)child;
	}
	if (d)
		closedir(d);
	return n;
}

static void the_master_answers(void)
{
	struct tls_client_result r;
	int master_leads;
	REQUIRE(shim_try_verified(&e, SHIM_NAME, NULL, 0, &r) == 0);
	CHECK_INT(workers_newest(r.serial, &master_leads), ==, 2);
	CHECK(master_leads);
	/* The control socket: the master's, no worker's. */
	char sock[400];
	snprintf(sock, sizeof(sock), "%s/run/control.sock", e.store);
	CHECK_INT(holds_socket(e.srv.pid, sock), ==, 1);
	pid_t kids[8];
	int nk = children_of(e.srv.pid, kids, 8);
	CHECK_INT(nk, ==, 2);
	for (int i = 0; i < nk; i++)
		CHECK_INT(holds_socket(kids[i], sock), ==, 0);

	CHECK_INT(autotls("renew --force"), ==, 0);
	fprintf(stderr, "  renew --force: %s", out);
	REQUIRE(strncmp(out, "serving serial ", 15) == 0);
	char now[128];
	snprintf(now, sizeof(now), "%.*s", (int)strcspn(out + 15, " \n"), out + 15);
	CHECK(strcasecmp(now, r.serial) != 0);
	CHECK_INT(workers_newest(now, &master_leads), ==, 2);
	for (int i = 0; i < 20; i++) {
		struct tls_client_result x;
		CHECK(shim_try_verified(&e, SHIM_NAME, NULL, 0, &x) == 0 && strcasecmp(x.serial, now) == 0);
	}
}

int main(void)
{
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	if (realpath(rel, cli) == NULL || shim_env_prepare(&e, SERVER_NGINX) != 0 || libs_without_manager() != 0 ||
	    shim_env_server_start(&e) != 0 || shim_wait_verified(&e, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS) < 0)
		return shim_env_setup_failed(&e, __FILE__);
	RUN(the_master_answers);
	return shim_env_exit(&e);
}
