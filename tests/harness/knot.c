/* knotd for tests (see knot.h). */
#include "tests/harness/knot.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "dns/zone.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int knot_prepare(struct knot *k)
{
	k->pid = -1;
	k->dir[0] = '\0';
	if (access(KNOTD, X_OK) != 0) {
		fprintf(stderr, "  %s is missing: install the knot package (scripts/deps.sh)\n", KNOTD);
		return -1;
	}
	snprintf(k->dir, sizeof(k->dir), "/tmp/at-knot-XXXXXX");
	if (mkdtemp(k->dir) == NULL) {
		k->dir[0] = '\0';
		return -1;
	}
	return 0;
}

int knot_file(const struct knot *k, const char *name, const char *text)
{
	char path[192];
	snprintf(path, sizeof(path), "%s/%s", k->dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int knot_run(struct knot *k, const char *ip, int port, const char *zone)
{
	char conf[128], log_path[128];

	snprintf(conf, sizeof(conf), "%s/knot.conf", k->dir);
	snprintf(log_path, sizeof(log_path), "%s/knotd.log", k->dir);
	k->pid = fork();
	if (k->pid < 0)
		return -1;
	if (k->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int nul = open("/dev/null", O_RDONLY);
		if (fd < 0 || nul < 0)
			_exit(127);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(KNOTD, "knotd", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (long deadline = harness_now_ms() + 10000; harness_now_ms() < deadline; harness_sleep_ms(20)) {
		char apex[AT_DNS_NAME_TEXT];
		if (waitpid(k->pid, NULL, WNOHANG) == k->pid) {
			k->pid = -1;
			break;
		}
		/* served: the zone's own name is an apex there */
		if (at_dns_find_zone(ip, port, zone, 500, apex, sizeof(apex), NULL) == 0 && at_dns_name_eq(zone, apex))
			return 0;
	}
	char *log = harness_read_file(log_path, NULL);
	fprintf(stderr, "  knotd did not serve %s at %s port %d; its log:\n%s\n", zone, ip, port, log ? log : "");
	free(log);
	return -1;
}

void knot_stop(struct knot *k)
{
	if (k->pid > 0) {
		kill(k->pid, SIGTERM);
		long deadline = harness_now_ms() + 3000;
		while (waitpid(k->pid, NULL, WNOHANG) == 0) {
			if (harness_now_ms() > deadline) {
				kill(k->pid, SIGKILL);
				waitpid(k->pid, NULL, 0);
				break;
			}
			harness_sleep_ms(10);
		}
	}
	k->pid = -1;
	harness_remove_tree(k->dir);
	k->dir[0] = '\0';
}
