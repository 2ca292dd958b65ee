/*
 * `autotls doctor [PID | BINARY | SERVICE]`: can this server be covered by the preload, and if not why, each
 * answer with its fix. A BINARY: what its ELF file links (doctor_elf.c), set-uid, set-gid or file capabilities
 * (the loader's secure-execution mode ignores LD_PRELOAD paths, ld.so(8)). A PID: its binary, then for it and
 * every descendant (the workers that handshake) whether libautotls.so is mapped and whether the region (the
 * memfd "autotls") is mapped shared, from /proc/PID/maps, and its LD_PRELOAD from /proc/PID/environ. A SERVICE:
 * the unit's ExecStart binary and whether a drop-in (or, on a running systemd, the unit's environment) sets
 * LD_PRELOAD, and the main PID when it runs. Only reads; never signals or changes a process.
 */
#include "tools/autotls/cli.h"
#include "tools/autotls/doctor.h"
#include "tools/autotls/doctor_reach.h"
#include "util/proc_stat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define DOC_MAX_PROCS 256

static int worst(int a, int b)
{
	/* NO beats UNKNOWN beats YES: one reason not to is the answer. */
	if (a == DOCTOR_NO || b == DOCTOR_NO)
		return DOCTOR_NO;
	if (a == DOCTOR_UNKNOWN || b == DOCTOR_UNKNOWN)
		return DOCTOR_UNKNOWN;
	return DOCTOR_YES;
}

/* Python's ssl module is a shared object of its own that links libssl.so.3; the interpreter links none. */
static int python_ssl_module(const char *real, char *out, size_t size)
{
	const char *base = strrchr(real, '/');
	base = base ? base + 1 : real;
	if (strncmp(base, "python3", 7) != 0)
		return 0;
	char pat[PATH_MAX + 64];
	snprintf(pat, sizeof(pat), "/usr/lib/%s/lib-dynload/_ssl*.so", base);
	if (strcmp(base, "python3") == 0)
		snprintf(pat, sizeof(pat), "/usr/lib/python3*/lib-dynload/_ssl*.so");
	return doctor_elf_glob_libssl3(pat, out, size);
}

/* The answer for one binary, printed; DOCTOR_*. */
static int judge_binary(const char *path)
{
	struct doctor_elf f;
	char real[PATH_MAX], mod[PATH_MAX];
	if (realpath(path, real) == NULL)
		snprintf(real, sizeof(real), "%s", path);
	if (doctor_elf_read(&f, real) != 0) {
		printf("%s: cannot tell: %s\n", path, f.why);
		return DOCTOR_UNKNOWN;
	}
	int r;
	if (f.go) {
		printf("%s: no: a Go program; Go does TLS itself (crypto/tls), where no preload reaches. Fix: the "
		       "server's own ACME support (Caddy has it built in), or a server under the preload in front of it "
		       "as the TLS proxy (nginx, haproxy)\n", path);
		r = DOCTOR_NO;
	} else if (!f.interp) {
		printf("%s: no: statically linked; the dynamic loader never runs, so LD_PRELOAD has no effect. Fix: a "
		       "build linked against the system's libssl.so.3 (the distribution's package)\n", path);
		r = DOCTOR_NO;
	} else if (f.gnutls) {
		printf("%s: no: uses GnuTLS (NEEDED %s); the preload interposes OpenSSL 3 only. Fix: a build with "
		       "OpenSSL (for mail: Postfix instead of exim4), or a server under the preload in front of it\n",
		       path, f.needed);
		r = DOCTOR_NO;
	} else if (f.libssl_other) {
		printf("%s: no: links an OpenSSL other than 3 (NEEDED %s); the preload interposes libssl.so.3. Fix: a "
		       "build against OpenSSL 3\n", path, f.needed);
		r = DOCTOR_NO;
	} else if (f.other_tls[0]) {
		printf("%s: no: uses %s, not OpenSSL; the preload interposes libssl.so.3. Fix: a build with OpenSSL 3, "
		       "or a server under the preload in front of it\n", path, f.other_tls);
		r = DOCTOR_NO;
	} else if (f.boringssl || f.static_openssl) {
		printf("%s: no: %s is linked into the binary (no libssl.so.3 among its libraries), so its calls never "
		       "reach a preload. Fix: a build linked against the system's libssl.so.3\n", path,
		       f.boringssl ? "BoringSSL" : "OpenSSL");
		r = DOCTOR_NO;
	} else if (f.libssl3) {
		printf("%s: yes: links libssl.so.3 dynamically; the preload interposes it\n", path);
		r = DOCTOR_YES;
	} else if (python_ssl_module(real, mod, sizeof(mod))) {
		printf("%s: yes: Python's ssl module (%s) links libssl.so.3 dynamically; the preload interposes it\n",
		       path, mod);
		r = DOCTOR_YES;
	} else if (doctor_reach_module(real, mod, sizeof(mod))) {
		printf("%s: yes: its TLS is in %s, which links libssl.so.3 dynamically; the preload interposes it\n",
		       path, mod);
		r = DOCTOR_YES;
	} else {
		printf("%s: cannot tell: links no TLS library (NEEDED %s); covered only if it loads libssl.so.3 at "
		       "run time (a plugin, a language's ssl module). Fix: ask about a running process: autotls doctor "
		       "PID\n", path, f.needed[0] ? f.needed : "nothing");
		r = DOCTOR_UNKNOWN;
	}
	if (f.mode & (S_ISUID | S_ISGID)) {
		printf("%s: no: set-%s; the loader runs it in secure-execution mode and ignores an LD_PRELOAD path "
		       "with a slash (ld.so(8)). Fix: start it without the set-%s bit as the user it needs (as root "
		       "from systemd, when it drops privileges itself)\n", path, (f.mode & S_ISUID) ? "uid" : "gid",
		       (f.mode & S_ISUID) ? "uid" : "gid");
		r = DOCTOR_NO;
	} else if (getxattr(real, "security.capability", NULL, 0) > 0) {
		printf("%s: no: has file capabilities (getcap); the loader runs it in secure-execution mode and "
		       "ignores an LD_PRELOAD path with a slash (ld.so(8)). Fix: remove them (setcap -r) and give the "
		       "capability another way (systemd's AmbientCapabilities=)\n", path);
		r = DOCTOR_NO;
	}
	if (r == DOCTOR_YES)
		doctor_reach_note(path, real);
	return r;
}

struct doc_maps {
	int lib;       /* libautotls.so mapped */
	int region;    /* the memfd "autotls" mapped */
	int shared;    /* ... with MAP_SHARED */
	int libssl3;   /* libssl.so.3 mapped */
};

static int read_maps(pid_t pid, struct doc_maps *m)
{
	char path[64], line[PATH_MAX + 128];
	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char perms[8] = "";
		const char *name = strchr(line, '/');
		if (sscanf(line, "%*s %7s", perms) != 1 || name == NULL)
			continue;
		size_t n = strcspn(name, "\n");
		if (n >= 14 && memcmp(name + n - 14, "/libautotls.so", 14) == 0)
			m->lib = 1;
		else if (strstr(name, "/libssl.so.3") != NULL)
			m->libssl3 = 1;
		else if (strncmp(name, "/memfd:autotls", 14) == 0 && (name[14] == ' ' || name[14] == '\n')) {
			m->region = 1;
			if (perms[3] == 's')
				m->shared = 1;
		}
	}
	fclose(f);
	return 0;
}

static void proc_comm(pid_t pid, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	out[0] = '\0';
	if (f != NULL) {
		if (fgets(out, (int)size, f) != NULL)
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

static pid_t proc_ppid(pid_t pid)
{
	struct at_proc_stat st;
	return at_proc_stat_read(pid, &st) == 0 ? st.ppid : -1;
}

/* pid and its descendants, breadth first, at most max. */
static size_t proc_tree(pid_t pid, pid_t *out, size_t max)
{
	size_t n = 0;
	out[n++] = pid;
	for (size_t at = 0; at < n && n < max; at++) {
		DIR *d = opendir("/proc");
		if (d == NULL)
			break;
		struct dirent *e;
		while ((e = readdir(d)) != NULL && n < max) {
			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			pid_t c = (pid_t)atoi(e->d_name);
			/* not this command, nor the shell that ran it, when asked about an ancestor */
			if (c != out[at] && c != getpid() && c != getppid() && proc_ppid(c) == out[at])
				out[n++] = c;
		}
		closedir(d);
	}
	return n;
}

/* LD_PRELOAD in /proc/PID/environ (root or the same user may read it); "" when unset, NULL unreadable. */
static const char *proc_preload(pid_t pid, char *out, size_t size)
{
	char path[64], buf[65536];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	out[0] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (strncmp(buf + i, "LD_PRELOAD=", 11) == 0)
			snprintf(out, size, "%s", buf + i + 11);
	return out;
}

static int judge_pid(pid_t pid)
{
	char exe[PATH_MAX + 16], link[64], comm[64], pre[PATH_MAX];
	pid_t tree[DOC_MAX_PROCS];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0) {
		printf("process %d: cannot tell: %s (no such process, or another user's: run as root)\n", (int)pid,
		       strerror(errno));
		return DOCTOR_UNKNOWN;
	}
	exe[n] = '\0';
	char *del = strstr(exe, " (deleted)");
	if (del != NULL)
		*del = '\0';
	int r = judge_binary(exe);
	if (r == DOCTOR_NO)
		return r;
	const char *env = proc_preload(pid, pre, sizeof(pre));
	if (env == NULL || env[0] == '\0')
		printf("process %d: no LD_PRELOAD in its environment as /proc shows it (%s)\n", (int)pid,
		       env == NULL ? "unreadable: run as root" : "unset, or rewritten: nginx reuses that area for its process title");
	else
		printf("process %d: LD_PRELOAD=%s\n", (int)pid, env);
	size_t np = proc_tree(pid, tree, DOC_MAX_PROCS);
	int any_ssl = 0, all_ok = 1;
	for (size_t i = 0; i < np; i++) {
		struct doc_maps m;
		if (read_maps(tree[i], &m) != 0)
			continue;
		proc_comm(tree[i], comm, sizeof(comm));
		any_ssl |= m.libssl3 || m.lib;
		printf("process %d (%s)%s: preload %s, region %s\n", (int)tree[i], comm, i ? "" : " [the one asked]",
		       m.lib ? "mapped" : "not mapped",
		       m.region ? (m.shared ? "mapped shared" : "mapped PRIVATE") : "not mapped");
		if (!m.lib && m.libssl3) {
			printf("process %d: no: it has libssl.so.3 but not the preload. Fix: start the server with "
			       "LD_PRELOAD=<the installed libautotls.so> (for a unit: autotls enable SERVICE -d NAMES), "
			       "set before it starts: a running process cannot take it\n", (int)tree[i]);
			all_ok = 0;
		} else if (m.lib && !m.region) {
			printf("process %d: no: the preload is loaded but maps no region: the server made no TLS server "
			       "context yet, or the setup failed (AUTOTLS_LOG says why)\n", (int)tree[i]);
			all_ok = 0;
		} else if (m.lib && !m.shared) {
			printf("process %d: no: the region is a private copy; new certificates will not reach it\n",
			       (int)tree[i]);
			all_ok = 0;
		}
	}
	if (!any_ssl) {
		printf("process %d: cannot tell: no process of this tree has libssl.so.3 or the preload mapped (not "
		       "loaded yet, or its TLS is elsewhere)\n", (int)pid);
		return worst(r, DOCTOR_UNKNOWN);
	}
	if (all_ok) {
		printf("process %d: yes: covered; every process that has libssl.so.3 has the preload and the region "
		       "shared\n", (int)pid);
		return DOCTOR_YES;
	}
	return DOCTOR_NO;
}

/* ExecStart='s binary: the first word, without systemd's prefixes (-@:+!). */
static void exec_binary(const char *v, char *out, size_t size)
{
	while (*v == '-' || *v == '@' || *v == ':' || *v == '+' || *v == '!' || *v == ' ')
		v++;
	size_t n = strcspn(v, " \t\n");
	if (n >= size)
		n = size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

/* Reads ExecStart= (a non-empty one replaces) and LD_PRELOAD= in Environment= lines of one unit file. */
static void read_unit_file(const char *path, char *bin, size_t bsize, char *pre, size_t psize, char *where,
			   size_t wsize)
{
	char line[4096];
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "ExecStart=", 10) == 0 && line[10] != '\n' && line[10] != '\0')
			exec_binary(line + 10, bin, bsize);
		const char *p;
		if (strncmp(line, "Environment=", 12) == 0 && (p = strstr(line, "LD_PRELOAD=")) != NULL) {
			p += 11;
			size_t n = strcspn(p, "\" \t\n");
			if (n >= psize)
				n = psize - 1;
			memcpy(pre, p, n);
			pre[n] = '\0';
			snprintf(where, wsize, "%s", path);
		}
	}
	fclose(f);
}

static int judge_service(const char *service, const char *root)
{
	static const char *const dirs[] = { "/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
					    "/usr/lib/systemd/system" };
	char unit[PATH_MAX], bin[PATH_MAX] = "", pre[PATH_MAX] = "", where[PATH_MAX] = "", pat[PATH_MAX];
	const char *r = root ? root : "";
	int found = 0;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !found; i++) {
		snprintf(unit, sizeof(unit), "%s%s/%s.service", r, dirs[i], service);
		found = access(unit, R_OK) == 0;
	}
	if (!found)
		return -1;
	printf("unit %s.service: %s\n", service, unit);
	read_unit_file(unit, bin, sizeof(bin), pre, sizeof(pre), where, sizeof(where));
	for (size_t i = 0; i < 2; i++) {
		glob_t g;
		snprintf(pat, sizeof(pat), "%s%s/%s.service.d/*.conf", r, dirs[i], service);
		if (glob(pat, 0, NULL, &g) == 0) {
			for (size_t k = 0; k < g.gl_pathc; k++)
				read_unit_file(g.gl_pathv[k], bin, sizeof(bin), pre, sizeof(pre), where, sizeof(where));
			globfree(&g);
		}
	}
	int res;
	if (bin[0] == '\0') {
		printf("unit %s.service: cannot tell: no ExecStart= binary found\n", service);
		res = DOCTOR_UNKNOWN;
	} else {
		char real[PATH_MAX];
		snprintf(real, sizeof(real), "%s%s", r, bin);
		res = judge_binary(access(real, F_OK) == 0 ? real : bin);
	}
	if (pre[0] == '\0') {
		printf("unit %s.service: no: no drop-in sets LD_PRELOAD. Fix: autotls enable %s -d NAMES, then "
		       "systemctl daemon-reload && systemctl restart %s\n", service, service, service);
		res = worst(res, DOCTOR_NO);
	} else {
		char real[PATH_MAX];
		snprintf(real, sizeof(real), "%s%s", r, pre);
		if (access(real, R_OK) != 0 && access(pre, R_OK) != 0) {
			printf("unit %s.service: no: %s sets LD_PRELOAD=%s, which does not exist. Fix: install the "
			       "package (or make install) or autotls enable %s again\n", service, where, pre, service);
			res = worst(res, DOCTOR_NO);
		} else {
			printf("unit %s.service: %s sets LD_PRELOAD=%s (applied once systemctl daemon-reload && "
			       "systemctl restart %s ran)\n", service, where, pre, service);
		}
	}
	/* On a running systemd (not below --root), the unit's main process answers for what runs now. */
	if (root == NULL && access("/run/systemd/system", F_OK) == 0) {
		char cmd[512], out[64] = "";
		snprintf(cmd, sizeof(cmd), "systemctl show -p MainPID --value %s.service 2>/dev/null", service);
		FILE *p = popen(cmd, "re");
		if (p != NULL) {
			if (fgets(out, sizeof(out), p) == NULL)
				out[0] = '\0';
			pclose(p);
		}
		long pid = strtol(out, NULL, 10);
		if (pid > 0)
			res = worst(res, judge_pid((pid_t)pid));
	}
	return res;
}

/* A name without a slash: the PATH, then the folders root's PATH has and a user's may not. */
static int find_in_path(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char buf[8192];
	snprintf(buf, sizeof(buf), "%s:/usr/local/sbin:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		int n = snprintf(out, size, "%s/%s", d, name);
		if (n > 0 && (size_t)n < size && access(out, X_OK) == 0)
			return 0;
	}
	return -1;
}

int cli_doctor(int argc, char **argv, const char *storage_opt)
{
	const char *target = NULL, *root = NULL;
	(void)storage_opt;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			root = argv[++i];
		else if (argv[i][0] != '-' && target == NULL)
			target = argv[i];
		else
			target = NULL, i = argc;
	}
	if (target == NULL || target[0] == '\0') {
		fprintf(stderr, "usage: autotls doctor PID | BINARY | SERVICE [--root DIR]\n");
		return DOCTOR_USAGE;
	}
	size_t nd = strspn(target, "0123456789");
	if (target[nd] == '\0') {
		long pid = strtol(target, NULL, 10);
		if (pid <= 0 || pid > INT_MAX) {
			fprintf(stderr, "autotls: doctor: %s is not a process id\n", target);
			return DOCTOR_USAGE;
		}
		return judge_pid((pid_t)pid);
	}
	if (strchr(target, '/') != NULL)
		return judge_binary(target);
	char service[256];
	size_t n = strlen(target);
	snprintf(service, sizeof(service), "%.*s", (int)(n > 8 && strcmp(target + n - 8, ".service") == 0 ? n - 8 : n),
		 target);
	int r = judge_service(service, root);
	if (r >= 0)
		return r;
	char bin[PATH_MAX];
	if (find_in_path(target, bin, sizeof(bin)) == 0)
		return judge_binary(bin);
	printf("%s: cannot tell: no such unit (%s.service), no such program in PATH; give a path, a PID or a unit\n",
	       target, service);
	return DOCTOR_UNKNOWN;
}
