/*
 * The autotls command (tools/autotls) on a store made here, without a CA: records for a name and a wildcard
 * under one CA folder, an attempt record with a failure (engine/attempts.c's format), a record that does not
 * parse. status --json shows each certificate with its key type, the lifetime rule's renewal time, and the last
 * error with when it happened and the next try; check turns them into Nagios states; AUTOTLS_CA narrows both to
 * that CA's folder.
 */
#include "engine/engine.h"
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/certgen.h"
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/test.h"
#include "util/keys.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CA "ca.test-dir"

static char dir[128], cli[PATH_MAX], out[16384];
static time_t problem_at;

static int autotls(const char *env, const char *args)
{
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "env -u AUTOTLS_CA -u AUTOTLS_DOMAINS -u AUTOTLS_STORAGE %s %s --storage %s %s", env,
		 cli, dir, args);
	return harness_command(cmd, out, sizeof(out));
}

static int save(struct at_store *s, const char *name, const char *san)
{
	char *key = NULL, *cert = NULL;
	size_t klen = 0, clen = 0;
	if (harness_self_signed_pem(&key, &klen, &cert, &clen, san) != 0)
		return -1;
	char *names[] = { (char *)name };
	struct at_cert_record rec = { .key_pem = key, .key_len = klen, .chain_pem = cert, .chain_len = clen,
				      .names = names, .nnames = 1 };
	int rc = at_cert_record_save(s, CA, &rec);
	at_secret_free(key, klen);
	free(cert);
	return rc;
}

static void make_store(void)
{
	struct at_store *s = NULL;
	char state[600];
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	snprintf(dir, sizeof(dir), "/tmp/autotls-cli-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE(at_store_open_file(&s, dir) == 0);
	CHECK_OK(save(s, "a.test", "DNS:a.test"));
	CHECK_OK(save(s, "*.w.test", "DNS:*.w.test"));
	problem_at = time(NULL) - 60;
	snprintf(state, sizeof(state),
		 "{\"v\":1,\"next_try\":%lld,\"failures\":2,\"fails\":[],\"round_start\":0,\"round_tried\":0,"
		 "\"problem\":{\"code\":%d,\"at\":%lld,\"type\":\"urn:ietf:params:acme:error:unauthorized\","
		 "\"detail\":\"no TXT record\"}}",
		 (long long)problem_at + 660, AT_E_AUTHZ_INVALID, (long long)problem_at);
	CHECK_OK(at_store_put(s, "attempts/" CA "/a.test/state", state, strlen(state)));
	at_store_close(s);
}

static const cJSON *member(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static void status_shows_records_and_the_last_error(void)
{
	CHECK_OK(autotls("", "status --json"));
	cJSON *j = cJSON_Parse(out);
	REQUIRE(j != NULL);
	const cJSON *certs = member(j, "certificates");
	REQUIRE(cJSON_GetArraySize(certs) == 2);
	const cJSON *w = cJSON_GetArrayItem(certs, 0), *a = cJSON_GetArrayItem(certs, 1);
	CHECK_STR(cJSON_GetStringValue(member(w, "name")), "*.w.test");
	CHECK_STR(cJSON_GetStringValue(member(a, "name")), "a.test");
	CHECK_STR(cJSON_GetStringValue(member(a, "ca")), CA);
	CHECK_STR(cJSON_GetStringValue(member(a, "key_type")), "p256");
	/* The lifetime rule, the engine's own (at_renewal_time), as nothing asked the CA. */
	time_t nb = (time_t)member(a, "not_before")->valuedouble, na = (time_t)member(a, "not_after")->valuedouble;
	const cJSON *ren = member(a, "renewal");
	CHECK_INT((long long)member(ren, "at")->valuedouble, ==, (long long)at_renewal_time(nb, na, 0, 0));
	CHECK_STR(cJSON_GetStringValue(member(ren, "rule")), "lifetime");
	CHECK(cJSON_IsFalse(member(ren, "asked_ca")));
	const cJSON *err = member(a, "last_error");
	REQUIRE(cJSON_IsObject(err));
	CHECK(strstr(cJSON_GetStringValue(member(err, "problem")), "no TXT record") != NULL);
	CHECK_INT((long long)member(err, "at")->valuedouble, ==, (long long)problem_at);
	CHECK_INT((long long)member(err, "next_try")->valuedouble, ==, (long long)problem_at + 660);
	CHECK_INT((int)member(err, "failures")->valuedouble, ==, 2);
	CHECK(cJSON_IsNull(member(w, "last_error")));
	cJSON_Delete(j);
	CHECK_OK(autotls("", "status"));
	CHECK(strstr(out, "last error:") != NULL && strstr(out, "no TXT record") != NULL);
}

static void check_states(void)
{
	/* Certificates of a day: critical under the default thresholds (7 and 14 days), fine under seconds. */
	CHECK_INT(autotls("", "check"), ==, 2);
	CHECK_INT(autotls("", "check --warn-seconds 600 --crit-seconds 60"), ==, 0);
	CHECK_INT(autotls("", "check --warn-seconds 172800 --crit-seconds 60"), ==, 1);
	CHECK_INT(autotls("", "check --warn-days 1 --crit-days 2"), ==, 3); /* crit above warn */
	/* Another CA's folder holds nothing. */
	CHECK_INT(autotls("AUTOTLS_CA=https://other.test/dir", "check --warn-seconds 600 --crit-seconds 60"), ==, 3);
	CHECK(strstr(out, "no certificates") != NULL);
	CHECK_INT(autotls("AUTOTLS_CA=https://ca.test/dir", "check --warn-seconds 600 --crit-seconds 60"), ==, 0);
	/* A bad setting is UNKNOWN, named on stderr. */
	CHECK_INT(autotls("AUTOTLS_CA=http://ca.test/dir", "check 2>&1"), ==, 3);
	CHECK(strstr(out, "AUTOTLS_CA") != NULL && strstr(out, "RFC 8555") != NULL);
	CHECK_INT(autotls("AUTOTLS_CA=http://ca.test/dir", "status 2>&1"), ==, 1);
	CHECK(strstr(out, "AUTOTLS_CA") != NULL);
}

static void unreadable_record_is_critical(void)
{
	struct at_store *s = NULL;
	REQUIRE(at_store_open_file(&s, dir) == 0);
	CHECK_OK(at_store_put(s, "certificates/" CA "/b.test/record", "garbage", 7));
	at_store_close(s);
	CHECK_INT(autotls("", "check --warn-seconds 600 --crit-seconds 60"), ==, 2);
	CHECK(strstr(out, "b.test") != NULL && strstr(out, "cannot be read") != NULL);
	CHECK_OK(autotls("", "status --json"));
	cJSON *j = cJSON_Parse(out);
	REQUIRE(j != NULL);
	const cJSON *b = cJSON_GetArrayItem(member(j, "certificates"), 2);
	CHECK_STR(cJSON_GetStringValue(member(b, "name")), "b.test");
	CHECK(cJSON_IsString(member(b, "error")));
	cJSON_Delete(j);
}

int main(void)
{
	RUN(make_store);
	RUN(status_shows_records_and_the_last_error);
	RUN(check_states);
	RUN(unreadable_record_is_critical);
	harness_remove_or_keep(dir);
	return TEST_EXIT();
}
