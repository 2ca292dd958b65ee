/*
 * autotls renew with no server on the store, the paths that need no CA (the ordering itself is test_715's, against
 * Pebble): a fresh record is kept without --force (exit 0, the line says until when, no CA asked: the CA's URL
 * answers nothing); AUTOTLS_CHALLENGES=tls-alpn-01 alone is one line with the fix and exit 1, the store untouched;
 * no NAME without AUTOTLS_DOMAINS, or a NAME outside it, is exit 2; a store whose election lock a server holds is
 * refused (exit 1: ask it); a user other than root and the store's owner is refused (exit 4).
 */
#include "store/certs.h"
#include "store/store.h"
#include "tests/harness/certgen.h"
#include "tests/harness/command.h"
#include "tests/harness/files.h"
#include "tests/test.h"
#include "util/keys.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CA_URL "https://127.0.0.1:1/dir" /* nothing listens: any request would fail the command */

static char dir[128], store[160], cli[PATH_MAX], out[8192];

static int autotls(const char *env, const char *args)
{
	char cmd[2 * PATH_MAX];
	snprintf(cmd, sizeof(cmd),
		 "env -u AUTOTLS_DOMAINS -u AUTOTLS_CHALLENGES AUTOTLS_CA=" CA_URL " %s %s --storage %s renew %s 2>&1", env,
		 cli, store, args);
	int rc = harness_command(cmd, out, sizeof(out));
	fprintf(stderr, "  renew %s %s -> %d: %s", env, args, rc, out);
	return rc;
}

static void make_store(void)
{
	struct at_store *s = NULL;
	char ca[256], *key = NULL, *cert = NULL;
	size_t klen = 0, clen = 0;
	const char *build = getenv("BUILD");
	char rel[PATH_MAX];
	snprintf(rel, sizeof(rel), "%s/autotls", build && *build ? build : "build");
	REQUIRE(realpath(rel, cli) != NULL);
	snprintf(dir, sizeof(dir), "/tmp/autotls-renew-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	REQUIRE(chmod(dir, 0755) == 0);
	snprintf(store, sizeof(store), "%s/store", dir);
	REQUIRE(at_store_open_file(&s, store) == 0);
	REQUIRE(at_store_ca_component(ca, sizeof(ca), CA_URL) == 0);
	REQUIRE(harness_self_signed_pem(&key, &klen, &cert, &clen, "DNS:a.test") == 0);
	char *names[] = { "a.test" };
	struct at_cert_record rec = { .key_pem = key, .key_len = klen, .chain_pem = cert, .chain_len = clen,
				      .names = names, .nnames = 1 };
	CHECK_OK(at_cert_record_save(s, ca, &rec));
	at_secret_free(key, klen);
	free(cert);
	at_store_close(s);
}

static void fresh_record_is_kept(void)
{
	CHECK_INT(autotls("AUTOTLS_CHALLENGES=http-01 AUTOTLS_HTTP_PORT=18080", "a.test"), ==, 0);
	CHECK(strncmp(out, "kept a.test: serial ", 20) == 0);
	CHECK(strstr(out, "not due for renewal until ") != NULL && strstr(out, "--force") != NULL);
	/* AUTOTLS_DOMAINS' set is the certificate's. */
	CHECK_INT(autotls("AUTOTLS_DOMAINS=a.test AUTOTLS_HTTP_PORT=18080", ""), ==, 0);
	CHECK(strncmp(out, "kept a.test: ", 13) == 0);
}

static void tls_alpn_only_names_the_fix(void)
{
	char accounts[200];
	CHECK_INT(autotls("AUTOTLS_CHALLENGES=tls-alpn-01", "--force a.test"), ==, 1);
	CHECK(strstr(out, "only tls-alpn-01") != NULL && strstr(out, "AUTOTLS_CHALLENGES=http-01") != NULL);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
	snprintf(accounts, sizeof(accounts), "%s/accounts", store);
	CHECK(access(accounts, F_OK) != 0); /* no account made: nothing was asked */
}

static void names_are_checked(void)
{
	CHECK_INT(autotls("AUTOTLS_HTTP_PORT=18080", "--force"), ==, 2);
	CHECK(strstr(out, "no name is given") != NULL);
	CHECK_INT(autotls("AUTOTLS_DOMAINS=a.test AUTOTLS_HTTP_PORT=18080", "--force b.test"), ==, 2);
	CHECK(strstr(out, "b.test is not a name of AUTOTLS_DOMAINS") != NULL);
}

static void a_leading_server_is_not_bypassed(void)
{
	char lock[200];
	snprintf(lock, sizeof(lock), "%s/manager.lock", store);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	REQUIRE(fcntl(fd, F_SETLK, &fl) == 0);
	CHECK_INT(autotls("AUTOTLS_HTTP_PORT=18080", "--force a.test"), ==, 1);
	CHECK(strstr(out, "leads the store") != NULL);
	close(fd);
}

static void others_are_refused(void)
{
	char copy[200], cmd[1200];
	if (geteuid() != 0) {
		fprintf(stderr, "  skipped: needs root to run as nobody\n");
		return;
	}
	snprintf(copy, sizeof(copy), "%s/autotls-copy", dir);
	REQUIRE(harness_copy_file(cli, copy, 0755) == 0);
	REQUIRE(chmod(store, 0755) == 0); /* reachable, but not theirs */
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid=nobody --regid=nogroup --clear-groups env AUTOTLS_CA=" CA_URL " AUTOTLS_HTTP_PORT=18080 "
		 "%s --storage %s renew --force a.test 2>&1",
		 copy, store);
	CHECK_INT(harness_command(cmd, out, sizeof(out)), ==, 4);
	CHECK(strstr(out, "refused") != NULL);
	CHECK(chmod(store, 0700) == 0);
}

int main(void)
{
	RUN(make_store);
	if (test_failed_total == 0) {
		RUN(fresh_record_is_kept);
		RUN(tls_alpn_only_names_the_fix);
		RUN(names_are_checked);
		RUN(a_leading_server_is_not_bypassed);
		RUN(others_are_refused);
	}
	harness_remove_or_keep(dir);
	return TEST_EXIT();
}
