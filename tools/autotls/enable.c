/*
 * `autotls enable SERVICE -d NAMES [options]` and `autotls disable SERVICE`: write or remove the systemd drop-in
 * /etc/systemd/system/SERVICE.service.d/autotls.conf (below --root DIR when given, for tests and image builds)
 * that puts the preload and the AUTOTLS_* settings into the unit's environment. The settings are checked with
 * the preload's own reader (shim/config.c) first, so a drop-in that the server would refuse is never written.
 * It never runs systemctl: it prints the command that applies the change, the operator runs it.
 * disable removes only a drop-in that enable wrote (its first line says so), and the SERVICE.service.d folder
 * when that leaves it empty.
 */
#include "tools/autotls/cli.h"
#include "store/fileio.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef AT_MULTIARCH
#define AT_MULTIARCH "x86_64-linux-gnu"
#endif

#define EN_MAX_SET 32
#define EN_MARK "# Written by `autotls enable"
#define EN_FILE "autotls.conf"

struct en_setting {
	const char *name;
	const char *value;
};

static struct en_setting en_set[EN_MAX_SET];
static size_t en_nset;

/* The reader's view of the settings given: only those (AUTOTLS_LOG is the server's log: not opened here). */
static const char *en_getenv(const char *name)
{
	if (strcmp(name, "AUTOTLS_LOG") == 0)
		return NULL;
	for (size_t i = 0; i < en_nset; i++)
		if (strcmp(en_set[i].name, name) == 0)
			return en_set[i].value;
	return NULL;
}

static int en_add(const char *name, const char *value)
{
	for (size_t i = 0; i < en_nset; i++)
		if (strcmp(en_set[i].name, name) == 0) {
			en_set[i].value = value; /* the last one given wins, as in a shell */
			return 0;
		}
	if (en_nset == EN_MAX_SET) {
		fprintf(stderr, "autotls: more than %d settings; give each AUTOTLS_* setting once\n", EN_MAX_SET);
		return AT_E_INVAL;
	}
	en_set[en_nset].name = name;
	en_set[en_nset].value = value;
	en_nset++;
	return 0;
}

/* NAME=VALUE with NAME an AUTOTLS_* setting: split in place. */
static int en_add_assignment(char *arg)
{
	char *eq = strchr(arg, '=');
	if (eq == NULL || strncmp(arg, "AUTOTLS_", 8) != 0 || eq == arg + 8) {
		fprintf(stderr, "autotls: --set \"%.80s\": expected AUTOTLS_NAME=VALUE, e.g. --set AUTOTLS_KEY_TYPE=rsa2048\n",
			arg);
		return AT_E_INVAL;
	}
	for (const char *p = arg + 8; p < eq; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')) {
			fprintf(stderr, "autotls: --set \"%.80s\": a setting's name is AUTOTLS_ and capitals, digits, _\n",
				arg);
			return AT_E_INVAL;
		}
	*eq = '\0';
	return en_add(arg, eq + 1);
}

/* A unit name without ".service": letters, digits and ":-_.\@" (systemd.unit(5)), no leading dot, no "/". */
static int en_service(char *out, size_t size, const char *arg)
{
	size_t n = strlen(arg);
	if (n > 8 && strcmp(arg + n - 8, ".service") == 0)
		n -= 8;
	int ok = n > 0 && n < size && arg[0] != '.' && arg[0] != '-';
	for (size_t i = 0; ok && i < n; i++) {
		char c = arg[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(":-_.\\@", c);
	}
	if (!ok) {
		fprintf(stderr, "autotls: \"%.80s\" is not a systemd service name; give the unit's name, e.g. nginx\n",
			arg);
		return AT_E_INVAL;
	}
	memcpy(out, arg, n);
	out[n] = '\0';
	return 0;
}

/* The preload's path: --preload, else the one beside this command (the build folder), else the one `make
 * install` put in PREFIX/lib/MULTIARCH for this PREFIX/bin/autotls. Always absolute. */
static int en_preload(char *out, size_t size, const char *given)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	if (given != NULL) {
		if (given[0] != '/' || strlen(given) >= size || access(given, R_OK) != 0) {
			fprintf(stderr, "autotls: --preload %.80s: not a readable absolute path; give the installed "
					"libautotls.so\n", given);
			return AT_E_INVAL;
		}
		snprintf(out, size, "%s", given);
		return 0;
	}
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			for (int i = 0; i < 2; i++) {
				if (i == 0)
					snprintf(cand, sizeof(cand), "%s/libautotls.so", exe);
				else
					snprintf(cand, sizeof(cand), "%s/../lib/" AT_MULTIARCH "/libautotls.so", exe);
				if (realpath(cand, out) != NULL && strlen(out) < size)
					return 0;
			}
		}
	}
	fprintf(stderr, "autotls: cannot find libautotls.so beside this command or in ../lib/%s; give --preload "
			"PATH\n", AT_MULTIARCH);
	return AT_E_NOTFOUND;
}

/* The folder of the drop-in: ROOT/etc/systemd/system/SERVICE.service.d. With a root the folders are created;
 * without, /etc/systemd/system must exist (else this is no systemd machine). */
static int en_dropin_dir(char *out, size_t size, const char *root, const char *service, int create)
{
	char sys[PATH_MAX];
	int n = snprintf(sys, sizeof(sys), "%s/etc/systemd/system", root ? root : "");
	if (n < 0 || (size_t)n >= sizeof(sys))
		return AT_E_INVAL;
	n = snprintf(out, size, "%s/%s.service.d", sys, service);
	if (n < 0 || (size_t)n >= size)
		return AT_E_INVAL;
	if (!create)
		return 0;
	if (root != NULL) {
		/* mkdir -p of root/etc/systemd/system, 0755 as the distribution has them */
		for (char *p = sys + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
			*p = '\0';
			if (mkdir(sys, 0755) != 0 && errno != EEXIST)
				goto fail;
			*p = '/';
		}
		if (mkdir(sys, 0755) != 0 && errno != EEXIST)
			goto fail;
	}
	struct stat st;
	if (stat(sys, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "autotls: %s is not a folder: is this a systemd machine? (--root DIR writes below DIR)\n",
			sys);
		return AT_E_NOTFOUND;
	}
	if (mkdir(out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "autotls: cannot create %s: %s; run as root\n", out, strerror(errno));
		return at_fio_err(errno);
	}
	return 0;
fail:
	fprintf(stderr, "autotls: cannot create %s: %s\n", sys, strerror(errno));
	return at_fio_err(errno);
}

/* One Environment= line. systemd.exec(5): the assignment in double quotes, '%' written "%%" (a specifier
 * otherwise); a quote, a backslash or a control character is refused rather than escaped (no setting takes one). */
static int en_line(char *out, size_t size, const char *name, const char *value)
{
	size_t o = 0;
	int n = snprintf(out, size, "Environment=\"%s=", name);
	if (n < 0 || (size_t)n >= size)
		return AT_E_INVAL;
	o = (size_t)n;
	for (const char *p = value; *p; p++) {
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f) {
			fprintf(stderr, "autotls: %s holds a quote, a backslash or a control character; no setting "
					"takes one\n", name);
			return AT_E_INVAL;
		}
		if (o + 4 >= size)
			return AT_E_TOOBIG;
		if (*p == '%')
			out[o++] = '%';
		out[o++] = *p;
	}
	if (o + 3 >= size)
		return AT_E_TOOBIG;
	out[o++] = '"';
	out[o++] = '\n';
	out[o] = '\0';
	return 0;
}

static int enable_usage(void)
{
	fprintf(stderr, "usage: autotls [--storage DIR] enable SERVICE -d NAMES [--email ADDR] [--ca URL] "
			"[--storage DIR] [--set AUTOTLS_NAME=VALUE]... [--preload PATH] [--root DIR]\n");
	return CLI_USAGE;
}

int cli_enable(int argc, char **argv, const char *storage_opt)
{
	const char *root = NULL, *preload_opt = NULL, *service_arg = NULL;
	char service[256], preload[PATH_MAX], dir[PATH_MAX + 300], line[4096];
	char storage_abs[PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	int rc, dirfd = -1, ret = CLI_FAIL;

	en_nset = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if ((strcmp(a, "-d") == 0 || strcmp(a, "--domains") == 0) && has)
			rc = en_add("AUTOTLS_DOMAINS", argv[++i]);
		else if (strcmp(a, "--email") == 0 && has)
			rc = en_add("AUTOTLS_EMAIL", argv[++i]);
		else if (strcmp(a, "--ca") == 0 && has)
			rc = en_add("AUTOTLS_CA", argv[++i]);
		else if (strcmp(a, "--set") == 0 && has)
			rc = en_add_assignment(argv[++i]);
		else if (strcmp(a, "--preload") == 0 && has)
			preload_opt = argv[++i], rc = 0;
		else if (strcmp(a, "--root") == 0 && has)
			root = argv[++i], rc = 0;
		else if (strcmp(a, "--storage") == 0 && has)
			storage_opt = argv[++i], rc = 0;
		else if (a[0] != '-' && service_arg == NULL)
			service_arg = a, rc = 0;
		else
			return enable_usage();
		if (rc != 0)
			return CLI_USAGE;
	}
	if (service_arg == NULL)
		return enable_usage();
	if (en_service(service, sizeof(service), service_arg) != 0)
		return CLI_USAGE;
	if (storage_opt != NULL) {
		if (storage_opt[0] != '/' && realpath(storage_opt, storage_abs) == NULL) {
			fprintf(stderr, "autotls: --storage %.80s: give the store's absolute path (the server's "
					"working folder is not this one)\n", storage_opt);
			return CLI_USAGE;
		}
		if (storage_opt[0] == '/')
			snprintf(storage_abs, sizeof(storage_abs), "%s", storage_opt);
		if (en_add("AUTOTLS_STORAGE", storage_abs) != 0)
			return CLI_USAGE;
	}
	if (en_getenv("AUTOTLS_DOMAINS") == NULL && en_getenv("AUTOTLS_ON_DEMAND") == NULL &&
	    en_getenv("AUTOTLS_SITES") == NULL) {
		fprintf(stderr, "autotls: enable needs the names: -d example.com,www.example.com (or --set "
				"AUTOTLS_SITES=/etc/autotls/sites.txt, or --set AUTOTLS_ON_DEMAND=1)\n");
		return CLI_USAGE;
	}
	/* The preload's own reader decides what a setting accepts; its one-line errors go to stderr. */
	struct shim_config cfg;
	at_log_set_level(AT_LOG_WARN);
	rc = shim_config_read(&cfg, en_getenv);
	shim_config_clear(&cfg);
	if (rc != 0) {
		if (rc != AT_E_INVAL)
			fprintf(stderr, "autotls: the settings cannot be read: %s\n", at_strerror(rc));
		return CLI_USAGE;
	}
	if (en_preload(preload, sizeof(preload), preload_opt) != 0)
		return CLI_FAIL;

	/* The drop-in's text: a mark line (disable removes only files with it), then [Service]. */
	size_t cap = 1024 + (en_nset + 1) * sizeof(line);
	text = malloc(cap);
	if (text == NULL)
		goto out;
	len = (size_t)snprintf(text, cap, "%s %s` (autotls %s); `autotls disable %s` removes it.\n"
					  "# Applied by: systemctl daemon-reload && systemctl restart %s\n[Service]\n",
			       EN_MARK, service, AT_VERSION, service, service);
	if (en_line(line, sizeof(line), "LD_PRELOAD", preload) != 0)
		goto usage;
	len += (size_t)snprintf(text + len, cap - len, "%s", line);
	for (size_t i = 0; i < en_nset; i++) {
		if (en_line(line, sizeof(line), en_set[i].name, en_set[i].value) != 0)
			goto usage;
		len += (size_t)snprintf(text + len, cap - len, "%s", line);
	}

	if (en_dropin_dir(dir, sizeof(dir), root, service, 1) != 0)
		goto out;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "autotls: cannot open %s: %s\n", dir, strerror(errno));
		goto out;
	}
	rc = at_fio_write_public(dirfd, EN_FILE, text, len);
	if (rc != 0) {
		fprintf(stderr, "autotls: cannot write %s/%s: %s; run as root\n", dir, EN_FILE, at_strerror(rc));
		goto out;
	}
	printf("wrote %s/%s\n", dir, EN_FILE);
	printf("apply it: systemctl daemon-reload && systemctl restart %s\n", service);
	if (strncmp(service, "nginx", 5) == 0) {
		/* nginx clears its workers' environment and, on a binary upgrade (USR2), starts the new master with
		 * only the variables named by `env` (nginx core module): workers need nothing (the preload reads its
		 * settings before), the upgraded master needs these. */
		printf("nginx: add to nginx.conf (main context) so that a binary upgrade (kill -USR2) keeps the "
		       "preload:\n  env LD_PRELOAD;");
		for (size_t i = 0; i < en_nset; i++)
			printf(" env %s;", en_set[i].name);
		printf("\n");
	}
	ret = CLI_OK;
	goto out;
usage:
	ret = CLI_USAGE;
out:
	if (dirfd >= 0)
		close(dirfd);
	free(text);
	return ret;
}

int cli_disable(int argc, char **argv, const char *storage_opt)
{
	const char *root = NULL, *service_arg = NULL;
	char service[256], dir[PATH_MAX + 300];
	char *val = NULL;
	size_t len;
	int dirfd = -1, ret = CLI_FAIL, rc;
	(void)storage_opt;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
			root = argv[++i];
		else if (argv[i][0] != '-' && service_arg == NULL)
			service_arg = argv[i];
		else {
			fprintf(stderr, "usage: autotls disable SERVICE [--root DIR]\n");
			return CLI_USAGE;
		}
	}
	if (service_arg == NULL) {
		fprintf(stderr, "usage: autotls disable SERVICE [--root DIR]\n");
		return CLI_USAGE;
	}
	if (en_service(service, sizeof(service), service_arg) != 0)
		return CLI_USAGE;
	if (en_dropin_dir(dir, sizeof(dir), root, service, 0) != 0)
		return CLI_USAGE;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0 && errno == ENOENT) {
		printf("nothing to do: %s/%s does not exist\n", dir, EN_FILE);
		return CLI_OK;
	}
	if (dirfd < 0) {
		fprintf(stderr, "autotls: cannot open %s: %s; run as root\n", dir, strerror(errno));
		return CLI_FAIL;
	}
	rc = at_fio_read(dirfd, EN_FILE, 1 << 20, &val, &len);
	if (rc == AT_E_NOTFOUND) {
		printf("nothing to do: %s/%s does not exist\n", dir, EN_FILE);
		ret = CLI_OK;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "autotls: cannot read %s/%s: %s; run as root\n", dir, EN_FILE, at_strerror(rc));
		goto out;
	}
	if (strncmp(val, EN_MARK, strlen(EN_MARK)) != 0) {
		fprintf(stderr, "autotls: %s/%s was not written by autotls enable; left as it is (remove it by hand)\n",
			dir, EN_FILE);
		goto out;
	}
	if (unlinkat(dirfd, EN_FILE, 0) != 0) {
		fprintf(stderr, "autotls: cannot remove %s/%s: %s; run as root\n", dir, EN_FILE, strerror(errno));
		goto out;
	}
	fsync(dirfd);
	printf("removed %s/%s\n", dir, EN_FILE);
	if (rmdir(dir) == 0)
		printf("removed %s (it was empty)\n", dir);
	printf("apply it: systemctl daemon-reload && systemctl restart %s\n", service);
	ret = CLI_OK;
out:
	free(val);
	if (dirfd >= 0)
		close(dirfd);
	return ret;
}
