/*
 * s_server under the shim SIGKILLed at a random point, over and over, on one store: each start manages a new
 * name (k<i>.example.test), so every start has an issuance to do (account on the first, then order, challenge,
 * staging, promotion). A calibration start measures how long a whole issuance takes from the exec (T); each
 * kill then lands uniformly in [0, 300 ms + T], so that kills hit the start-up, the settle, the order and the
 * store writes. The loop runs 100 times or for 60 s (at least 30). After every kill, and after the loop, the
 * store is consistent: every record under certificates/ loads (at_cert_record_load re-checks that the key
 * matches the chain and the names are covered), no file outside .locks/ is empty, and the only leftovers are
 * .tmp-* temporaries. Then one more start for the last name completes the work: a verified handshake.
 */
#include "tests/harness/proc.h"
#include "tests/harness/records.h"
#include "tests/harness/shim_checks.h"
#include "tests/harness/shim_client.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/shim_log.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include "store/name.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LOOP_MAX 100
#define LOOP_MIN 30
#define LOOP_BUDGET_MS 60000

static struct shim_env env;
static int prepared;
static char ca_comp[256];
static char name_env[160];

/* envp with AUTOTLS_DOMAINS replaced by name_env. */
static char *run_envp[16];

static void set_name(const char *name)
{
	int k = 0;
	snprintf(name_env, sizeof(name_env), "AUTOTLS_DOMAINS=%s", name);
	for (int i = 0; env.envp[i] != NULL; i++)
		run_envp[k++] = strncmp(env.envp[i], "AUTOTLS_DOMAINS=", 16) == 0 ? name_env : env.envp[i];
	run_envp[k] = NULL;
}

/* fork + exec `openssl s_server` as the harness does, with our environment (less the names run_envp sets) plus
 * run_envp; output to /dev/null. The PID, or -1. */
static pid_t spawn_s_server(void)
{
	static char accept[64];
	char *argv[] = {"openssl", "s_server", "-accept", accept, "-cert", env.srv.cert_file, "-key", env.srv.key_file,
			"-www", "-alpn", "h2,http/1.1", NULL};
	char *envv[512];
	int k = 0;
	pid_t parent = getpid();

	snprintf(accept, sizeof(accept), "127.0.0.1:%d", env.port);
	for (int i = 0; environ[i] != NULL && k < 480; i++) {
		int dup = 0;
		for (int j = 0; run_envp[j] != NULL && !dup; j++) {
			size_t n = strcspn(run_envp[j], "=");
			dup = strncmp(environ[i], run_envp[j], n + 1) == 0;
		}
		if (!dup)
			envv[k++] = environ[i];
	}
	for (int j = 0; run_envp[j] != NULL; j++)
		envv[k++] = run_envp[j];
	envv[k] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvpe(argv[0], argv, envv);
		_exit(127);
	}
	return pid;
}

static void kill_and_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- the store's consistency ---- */

static int st_records, st_bad, st_tmp, st_empty;

static int st_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *base = path + ftw->base;
	const char *rel = path + strlen(env.store);

	/* Regular files only: the control channel's socket (run/control.sock, left by a killed leader) is no value. */
	if (flag != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	if (strncmp(base, ".tmp-", 5) == 0) {
		st_tmp++;
		return 0;
	}
	if (strstr(rel, "/.locks/") == rel || strcmp(rel, "/manager.lock") == 0)
		return 0;
	if (st->st_size == 0) {
		fprintf(stderr, "  store: %s is empty\n", rel);
		st_empty++;
	}
	/* /certificates/<ca>/<name>/record */
	char ca[256], name[AT_NAME_MAX + 1];
	if (sscanf(rel, "/certificates/%255[^/]/%253[^/]/record", ca, name) == 2 && strcmp(base, "record") == 0) {
		struct at_cert_record rec;
		st_records++;
		if (strcmp(ca, ca_comp) != 0 ||
		    harness_record_load_dir(env.store, env.p.directory_url, name, &rec) != 0) {
			fprintf(stderr, "  store: %s does not load\n", rel);
			st_bad++;
		}
		at_cert_record_clear(&rec);
	}
	return 0;
}

/* 0 when the store is consistent (counts in st_*). */
static int store_check(void)
{
	st_records = st_bad = st_tmp = st_empty = 0;
	if (nftw(env.store, st_entry, 16, FTW_PHYS) != 0)
		return -1;
	return st_bad || st_empty ? -1 : 0;
}

static unsigned rnd_state;
static unsigned rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

static long t_issue, t_obtaining;
static int loops, killed_before, killed_during, killed_after, inconsistent;
static char last_name[64];

static void calibrate(void)
{
	REQUIRE(prepared);
	/* The placeholders, and the account, from one harness start run to completion. */
	set_name("cal.example.test");
	env.envp[1] = name_env; /* AUTOTLS_DOMAINS is envp[1] (shim_env_prepare_fault) */
	REQUIRE(shim_env_server_start(&env) == 0);
	REQUIRE(shim_log_wait(&env, "obtained a certificate for cal.example.test", NULL, 1, 30000) >= 0);
	server_stop(&env.srv);
	/* A whole issuance from the exec: k0. */
	set_name("k0.example.test");
	long t0 = harness_now_ms();
	pid_t pid = spawn_s_server();
	REQUIRE(pid > 0);
	long ms = shim_log_wait(&env, "obtaining a certificate for k0.example.test", NULL, 1, 30000);
	t_obtaining = harness_now_ms() - t0;
	ms = shim_log_wait(&env, "obtained a certificate for k0.example.test", NULL, 1, 30000);
	t_issue = harness_now_ms() - t0;
	kill_and_reap(pid);
	CHECK(ms >= 0);
	fprintf(stderr, "  from the exec: the order starts after %ld ms, the certificate is stored after %ld ms; "
			"kills land in [0, %ld] ms from the exec (odd runs) or [0, %ld] ms after the order's first line "
			"(even runs)\n",
		t_obtaining, t_issue, 300 + t_issue, t_issue - t_obtaining);
	CHECK_OK(store_check());
}

static void kill_loop(void)
{
	REQUIRE(t_issue > 0);
	rnd_state = (unsigned)getpid() ^ (unsigned)time(NULL);
	long t0 = harness_now_ms();
	for (int i = 1; i <= LOOP_MAX && (i <= LOOP_MIN || harness_now_ms() - t0 < LOOP_BUDGET_MS); i++) {
		char name[64], obtaining[128], obtained[128];
		snprintf(name, sizeof(name), "k%d.example.test", i);
		snprintf(obtaining, sizeof(obtaining), "obtaining a certificate for %s", name);
		snprintf(obtained, sizeof(obtained), "obtained a certificate for %s", name);
		set_name(name);
		/* Odd runs anywhere from the exec; even runs in the order's own window, where the store is written:
		 * timed from the order's first log line (a time from the exec misses a window of some 40 ms whenever
		 * the shared machine delays the start by more than that). */
		long delay = i % 2 ? (long)(rnd() % (unsigned)(300 + t_issue + 1)) :
				     (long)(rnd() % (unsigned)(t_issue - t_obtaining + 1));
		pid_t pid = spawn_s_server();
		if (pid <= 0) {
			CHECK(!"spawn");
			break;
		}
		if (i % 2 == 0) {
			long w0 = harness_now_ms();
			while (shim_log_count(&env, obtaining, NULL) == 0 && harness_now_ms() - w0 < t_obtaining + 5000)
				harness_sleep_ms(2);
		}
		harness_sleep_ms(delay);
		kill_and_reap(pid);
		loops++;
		if (shim_log_count(&env, obtained, NULL) > 0) {
			killed_after++;
		} else {
			/* A name whose work was cut short: the last one is what the final start must complete. */
			snprintf(last_name, sizeof(last_name), "%s", name);
			if (shim_log_count(&env, obtaining, NULL) > 0)
				killed_during++;
			else
				killed_before++;
		}
		if (store_check() != 0) {
			inconsistent++;
			fprintf(stderr, "  store inconsistent after kill %d (%ld ms)\n", i, delay);
		}
	}
	fprintf(stderr, "  %d kills in %ld ms: %d before the order, %d during it, %d after it completed; %d left the "
			"store inconsistent\n",
		loops, harness_now_ms() - t0, killed_before, killed_during, killed_after, inconsistent);
	CHECK_INT(loops, >=, LOOP_MIN);
	CHECK_INT(inconsistent, ==, 0);
	CHECK_INT(killed_during, >=, 5);
}

static void store_consistent_after(void)
{
	REQUIRE(loops > 0);
	CHECK_OK(store_check());
	fprintf(stderr, "  store: %d records load, %d .tmp-* temporaries left, %d empty files\n", st_records, st_tmp,
		st_empty);
	CHECK_INT(st_records, >=, 2 + killed_after);
}

static void one_more_start_completes(void)
{
	char serial[80];

	REQUIRE(loops > 0 && last_name[0] != '\0');
	/* The last name killed before its certificate was stored, through the harness (so the handshake check below can use env.srv). */
	set_name(last_name);
	env.envp[1] = name_env;
	long t0 = harness_now_ms();
	REQUIRE(shim_env_server_start(&env) == 0);
	struct tls_client_result r;
	long ms = -1;
	while (harness_now_ms() - t0 < SHIM_ISSUE_TIMEOUT_MS) {
		memset(&r, 0, sizeof(r));
		if (shim_try_verified(&env, last_name, NULL, 0, &r) == 0) {
			ms = harness_now_ms() - t0;
			break;
		}
		harness_sleep_ms(SHIM_POLL_MS);
	}
	snprintf(serial, sizeof(serial), "%s", r.serial);
	fprintf(stderr, "  one more start: %s verified after %ld ms\n", last_name, ms);
	CHECK(ms >= 0);
	CHECK(strcmp(serial, env.srv.serial) != 0);
	CHECK_OK(store_check());
	shim_check_log(&env);
}

int main(void)
{
	shim_env_backoff_scale = 60;
	prepared = shim_env_prepare_fault(&env, SERVER_S_SERVER, NULL) == 0;
	if (prepared)
		prepared = at_store_ca_component(ca_comp, sizeof(ca_comp), env.p.directory_url) == 0;
	RUN(calibrate);
	RUN(kill_loop);
	RUN(store_consistent_after);
	RUN(one_more_start_completes);
	if (test_failed_total)
		shim_env_dump(&env);
	shim_env_stop(&env);
	return TEST_EXIT();
}
