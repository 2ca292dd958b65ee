/*
 * mosquitto with a TLS listener, following the host manager (issue 12, acceptance 3 and 6).
 *
 * mosquitto drops to its own user before it makes its TLS context, so under the preload it starts no manager
 * that may write the store: it can only follow. The host manager leads with HTTP-01 (nothing else on the host
 * speaks HTTP; nobody answers TLS-ALPN-01) and AUTOTLS_STORAGE_GROUP=mosquitto, so certificate records are
 * 0640 group mosquitto and account keys stay 0600. mosquitto (Debian's, started as root with `user mosquitto`,
 * its own placeholder certificate) has the same settings and copies each certificate from the store.
 *
 * Checked: it makes its context as mosquitto (the shim's line says the uid); an MQTT client over TLS that trusts
 * only Pebble's issuing root verifies a.example.test and gets CONNACK; after the host manager renews (30-second
 * certificates) new sessions get the new serial from the same broker process; without SNI and for an unmanaged
 * name the broker keeps its own certificate; only the host manager orders; the store's modes; no log holds a key.
 */
#include "tests/harness/files.h"
#include "tests/harness/host_manager.h"
#include "tests/harness/mosquitto.h"
#include "tests/harness/proc.h"
#include "tests/harness/shim_env.h"
#include "tests/harness/store_modes.h"
#include "tests/harness/starttls.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALIDITY_S 30
#define SERVE_TIMEOUT_MS 10000
#define RENEW_TIMEOUT_MS 40000

static struct shim_env env;
static struct host_manager hm;
static struct mosquitto mq;
static int prepared, hm_issued, mq_started, served;
static char first_serial[80], mq_log[340], e_mq_log[360], e_group[64];
static char *mq_envp[20];
static pid_t broker_pid;
static gid_t mq_gid;

static int mqtt_try(const char *sni, const char *root, struct tls_client_result *r)
{
	return starttls_try(TLS_MQTT, mq.port, sni, root, r);
}

static void host_manager_issues(void)
{
	char *extra[] = {e_group, NULL};

	REQUIRE(prepared);
	long ms = host_manager_issue(&hm, &env, extra, SHIM_NAME, SHIM_ISSUE_TIMEOUT_MS);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	CHECK_INT(pebble_count_orders(&env.p), ==, 1);
	hm_issued = 1;
}

static void mosquitto_starts(void)
{
	struct passwd *pw = getpwnam("mosquitto");
	size_t k = 0;

	REQUIRE(prepared && pw != NULL);
	/* Its shim log: a file the mosquitto user may append to (it opens it after dropping privileges). */
	snprintf(mq_log, sizeof(mq_log), "%s/autotls-mosquitto.log", env.dir);
	snprintf(e_mq_log, sizeof(e_mq_log), "AUTOTLS_LOG=%s", mq_log);
	int fd = open(mq_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	REQUIRE(fd >= 0);
	CHECK_OK(fchown(fd, pw->pw_uid, pw->pw_gid));
	close(fd);
	for (size_t i = 0; env.envp[i] != NULL && k + 3 < sizeof(mq_envp) / sizeof(mq_envp[0]); i++)
		mq_envp[k++] = env.envp[i] == env.e_log ? e_mq_log : env.envp[i];
	mq_envp[k++] = e_group;
	mq_envp[k] = NULL;
	mq_started = mosquitto_start(&mq, env.dir, harness_free_port(), mq_envp) == 0;
	CHECK(mq_started);
	REQUIRE(mq_started);
	broker_pid = mq.pid;
	CHECK_INT(mosquitto_uid(&mq), ==, pw->pw_uid);
	/* The shim saw the context made by the mosquitto user, not by root. */
	char want[80];
	snprintf(want, sizeof(want), "(pid %d, uid %u)", (int)mq.pid, (unsigned)pw->pw_uid);
	long t0 = harness_now_ms();
	while (harness_file_count_lines(mq_log, want) < 1 && harness_now_ms() - t0 < 5000)
		harness_sleep_ms(50);
	CHECK_INT(harness_file_count_lines(mq_log, want), >=, 1);
}

static void broker_serves_managed(void)
{
	struct tls_client_result r;

	REQUIRE(hm_issued && mq_started);
	long ms = starttls_wait_serial(TLS_MQTT, mq.port, SHIM_NAME, env.p.issuing_root_file, NULL, SERVE_TIMEOUT_MS,
				       100, &r);
	CHECK(ms >= 0);
	if (ms < 0) {
		mqtt_try(SHIM_NAME, NULL, &r);
		fprintf(stderr, "  mosquitto serves subject %s issuer %s\n", r.subject, r.issuer);
		return;
	}
	fprintf(stderr, "  mosquitto: %s verified (MQTT CONNACK over TLS) %ld ms after it listened\n", SHIM_NAME, ms);
	snprintf(first_serial, sizeof(first_serial), "%s", r.serial);
	CHECK(strcmp(first_serial, mq.serial) != 0);
	CHECK_INT(starttls_count_serial(TLS_MQTT, mq.port, SHIM_NAME, env.p.issuing_root_file, first_serial, 10), ==,
		  10);
	served = 1;
}

static void unmanaged_keeps_placeholder(void)
{
	const char *names[] = {NULL, SHIM_UNMANAGED};
	struct tls_client_result r;

	REQUIRE(mq_started);
	for (size_t i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		CHECK_OK(starttls_connect(TLS_MQTT, mq.port, names[i], NULL, NULL, &r));
		CHECK_STR(r.subject, "/CN=" MOSQUITTO_PLACEHOLDER_CN);
		CHECK_STR(r.serial, mq.serial);
	}
}

static void renewed_live(void)
{
	struct tls_client_result r;

	REQUIRE(served);
	long ms = starttls_wait_serial(TLS_MQTT, mq.port, SHIM_NAME, env.p.issuing_root_file, first_serial,
				       RENEW_TIMEOUT_MS, 200, &r);
	CHECK(ms >= 0);
	if (ms < 0)
		return;
	fprintf(stderr, "  mosquitto: the renewed certificate (serial %s) served %ld ms into the wait\n", r.serial, ms);
	CHECK_INT(mq.pid, ==, broker_pid);
	CHECK(kill(broker_pid, 0) == 0);
	CHECK_INT(pebble_count_orders(&env.p), >=, 2);
}

static void keys_private_logs_clean(void)
{
	const char *logs[] = {hm.log, mq_log, mq.out_file};

	REQUIRE(hm_issued);
	struct store_modes m;
	CHECK_OK(store_modes_check(env.store, (uid_t)-1, mq_gid, &m));
	CHECK_INT(m.cert_records, >=, 1);
	CHECK_INT(m.acct_keys, >=, 1);
	CHECK_INT(m.bad, ==, 0);
	for (size_t i = 0; i < sizeof(logs) / sizeof(logs[0]); i++) {
		char *text = harness_read_file(logs[i], NULL);
		if (text != NULL && strstr(text, "PRIVATE KEY") != NULL) {
			fprintf(stderr, "  %s holds a private key\n", logs[i]);
			test_failed_now = 1;
		}
		free(text);
	}
}

int main(void)
{
	struct group *gr = getgrnam("mosquitto");

	if (gr != NULL)
		mq_gid = gr->gr_gid;
	snprintf(e_group, sizeof(e_group), "AUTOTLS_STORAGE_GROUP=mosquitto");
	shim_env_validity_s = VALIDITY_S;
	shim_env_dir_tag = "reach-mqtt";
	prepared = gr != NULL && shim_env_prepare(&env, SERVER_S_SERVER) == 0;
	shim_env_validity_s = 0;
	shim_env_dir_tag = NULL;
	RUN(host_manager_issues);
	RUN(mosquitto_starts);
	RUN(broker_serves_managed);
	RUN(unmanaged_keeps_placeholder);
	RUN(renewed_live);
	RUN(keys_private_logs_clean);
	if (test_failed_total) {
		harness_print_tail("host manager", hm.log, 4000);
		harness_print_tail("shim (mosquitto)", mq_log, 4000);
		harness_print_tail("mosquitto", mq.out_file, 2000);
	}
	mosquitto_stop(&mq);
	host_manager_stop(&hm);
	return shim_env_exit(&env);
}
