/*
 * DNS-01 records' cleanup across an etcd fleet: two nginx hosts on one etcd store, AUTOTLS_CHALLENGES=dns-01, a
 * hook (as test_520's) that sets and clears the TXT record at pebble-challtestsrv. B leads and orders; its hook's
 * add sets the record and then stalls (while a file the test made exists), and the test SIGKILLs B's nginx
 * tree and its manager process there: B dies between the record's add and its cleanup. A takes the lead once B's lease ends and,
 * before ordering, runs the hook's del for the record B left (found in <PREFIX>/challenges/dns-01/, where the
 * leader notes each record while it exists); the note is gone from etcd afterwards. Whether A then completes the
 * issuance is not this test's concern (B's issue lock outlives it; test_909's).
 */
#include "tests/harness/etcd.h"
#include "tests/harness/fleet.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/test.h"

#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct shim_env env;
static struct fleet fl = { .env = &env };
static struct fleet_host *const b = &fl.host[0];
static char e_hook[600], e_resolver[64], hook[520], calls[520], stall[520];

static int write_hook(void)
{
	FILE *f = fopen(hook, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"#!/bin/bash\nset -eu\necho \"$@\" >> '%s'\n"
		"case \"$1\" in\n"
		"add) curl -fsS -o /dev/null -X POST -d \"{\\\"host\\\":\\\"$2.\\\",\\\"value\\\":\\\"$3\\\"}\" '%s/set-txt'\n"
		"     while [ -e '%s' ]; do sleep 0.05; done ;;\n"
		"del) curl -fsS -o /dev/null -X POST -d \"{\\\"host\\\":\\\"$2.\\\"}\" '%s/clear-txt' ;;\n"
		"*) exit 2 ;;\nesac\n",
		calls, env.p.chall_mgmt_url, stall, env.p.chall_mgmt_url);
	fclose(f);
	return chmod(hook, 0755);
}

/* The pid in the log's "pid N leads the fleet", or 0. */
static pid_t leader_pid(const char *path)
{
	char *text = harness_read_file(path, NULL), *p = text ? strstr(text, " leads the fleet") : NULL;
	long pid = 0;
	if (p != NULL) {
		while (p > text && p[-1] != ' ')
			p--;
		pid = strtol(p, NULL, 10);
	}
	free(text);
	return (pid_t)pid;
}

/* The etcd key of the note for "name\nvalue" (fleet_dns01.c). */
static void note_key(const char *name, const char *value, char *out, size_t cap)
{
	char text[400], hex[65];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int n = snprintf(text, sizeof text, "%s\n%s", name, value);
	EVP_Digest(text, (size_t)n, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(out, cap, "fleet916/challenges/dns-01/%s", hex);
}

static void next_leader_removes_the_dead_leaders_record(void)
{
	char name[300], value[100], del[420], key[200], got[1024];
	size_t got_len = 0;
	REQUIRE(fleet_etcd_start(&fl, "fleet916") == 0);
	/* The hook's path and the mock DNS are known once the env is prepared; the env borrows these buffers. */
	shim_env_extra[2] = e_hook;
	shim_env_extra[3] = e_resolver;
	int prepared = fleet_prepare(&fl, "state-a", "AUTOTLS_CHALLENGES=dns-01") == 0;
	shim_env_extra[2] = shim_env_extra[3] = NULL;
	REQUIRE(prepared);
	snprintf(hook, sizeof hook, "%s/dns-hook.sh", env.dir);
	snprintf(calls, sizeof calls, "%s/hook-calls", env.dir);
	snprintf(stall, sizeof stall, "%s/stall", env.dir);
	snprintf(e_hook, sizeof e_hook, "AUTOTLS_DNS_HOOK=%s", hook);
	snprintf(e_resolver, sizeof e_resolver, "AUTOTLS_DNS_RESOLVER=127.0.0.1:%d", env.p.dns_port);
	REQUIRE(write_hook() == 0);
	FILE *s = fopen(stall, "w");
	REQUIRE(s != NULL);
	fclose(s);
	REQUIRE(fleet_add_host(&fl, "b") == 0);
	REQUIRE(fleet_log_wait(b->log, "leads the fleet", 10000) == 0);
	REQUIRE(shim_env_server_start(&env) == 0);
	REQUIRE(shim_log_wait(&env, "watches", NULL, 1, 10000) >= 0);
	/* B's hook has set the record (its note went to the store first) and stalls: B dies there. */
	REQUIRE(fleet_log_wait(calls, "add _acme-challenge.", 20000) == 0);
	char *text = harness_read_file(calls, NULL);
	REQUIRE(text != NULL && sscanf(text, "add %299s %99s", name, value) == 2);
	free(text);
	note_key(name, value, key, sizeof key);
	CHECK(etcd_cluster_ctl_get(&fl.cl, key, got, sizeof got, &got_len) == 0 && got_len > 0);
	/* The manager process has a session of its own: the nginx tree first (its lifeline), then the manager. */
	pid_t mgr = leader_pid(b->log);
	REQUIRE(b->srv.pgid > 1 && mgr > 1);
	kill(-b->srv.pgid, SIGKILL);
	kill(mgr, SIGKILL);
	long t_kill = harness_now_ms();
	unlink(stall); /* the hook, in a group of its own, returns */
	/* A leads once B's lease ends and runs the hook's del for B's record before anything else. */
	snprintf(del, sizeof del, "del %s %s", name, value);
	CHECK(fleet_log_wait(calls, del, 20000) == 0);
	fprintf(stderr, "  B killed after its hook's add; A ran the hook's del %ld ms later\n", harness_now_ms() - t_kill);
	CHECK(fleet_log_has(env.log, "leads the fleet"));
	CHECK(fleet_log_has(env.log, "was left by the fleet's last leader; removing it"));
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < 3000 &&
	       !(etcd_cluster_ctl_get(&fl.cl, key, got, sizeof got, &got_len) != 0 || got_len == 0))
		harness_sleep_ms(50);
	CHECK(etcd_cluster_ctl_get(&fl.cl, key, got, sizeof got, &got_len) != 0 || got_len == 0);
}

int main(void)
{
	long t0 = harness_now_ms();
	RUN(next_leader_removes_the_dead_leaders_record);
	unlink(stall);
	return fleet_end(&fl, 1, t0);
}
