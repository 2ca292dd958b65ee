/*
 * Crash safety of certificate records: a child saves alternating (key, certificate) pairs in a loop and is killed
 * with SIGKILL at a random moment, 200 times. After every kill the live record loads, its key matches its
 * certificate, and every file in the store other than ".tmp-*" temporaries is a whole record. Then a read-only
 * store: saving fails with AT_E_PERM and the old record stays.
 */
#include "store/certs.h"
#include "store/store.h"
#include "util/err.h"
#include "tests/harness/certgen.h"
#include "tests/test.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPAIRS 4
#define ITER 200

static char rootp[64];
static char *names[] = { "example.com", "www.example.com" };
static struct {
	char *key, *cert;
	size_t kl, cl;
	char *raw; /* the exact record bytes as stored */
	size_t rl;
} pairs[NPAIRS];

static struct at_cert_record rec_of(int i)
{
	struct at_cert_record r;
	memset(&r, 0, sizeof r);
	r.key_pem = pairs[i].key;
	r.key_len = pairs[i].kl;
	r.chain_pem = pairs[i].cert;
	r.chain_len = pairs[i].cl;
	r.names = names;
	r.nnames = 2;
	r.renew_after = 1234;
	return r;
}

static int read_file(const char *path, char **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char *b = malloc((size_t)st.st_size + 1);
	ssize_t n = b ? read(fd, b, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		free(b);
		return -1;
	}
	*out = b;
	*len = (size_t)n;
	return 0;
}

/* Every regular file below dir is a ".tmp-" temporary, a lock file, or exactly one of the four records. */
static void check_tree(const char *dir, int *partial, int *temps)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		char p[1024];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".locks"))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		if (lstat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			check_tree(p, partial, temps);
			continue;
		}
		if (strncmp(de->d_name, ".tmp-", 5) == 0) {
			(*temps)++;
			continue;
		}
		char *b = NULL;
		size_t n = 0;
		int whole = 0;
		if (read_file(p, &b, &n) == 0)
			for (int i = 0; i < NPAIRS; i++)
				whole |= n == pairs[i].rl && memcmp(b, pairs[i].raw, n) == 0;
		free(b);
		if (!whole) {
			fprintf(stderr, "  partial or foreign file: %s\n", p);
			(*partial)++;
		}
	}
	closedir(d);
}

static void setup_pairs(void)
{
	struct at_store *s = NULL;
	if (at_store_open_file(&s, rootp) != 0)
		exit(1);
	for (int i = 0; i < NPAIRS; i++) {
		if (harness_self_signed_pem(&pairs[i].key, &pairs[i].kl, &pairs[i].cert, &pairs[i].cl,
				   "DNS:example.com,DNS:www.example.com") != 0)
			exit(1);
		struct at_cert_record r = rec_of(i);
		if (at_cert_record_save(s, "ca", &r) != 0 ||
		    at_store_load(s, "certificates/ca/example.com/record", &pairs[i].raw, &pairs[i].rl) != 0)
			exit(1);
	}
	at_store_close(s);
}

static void test_kill_loop(void)
{
	struct at_store *s = NULL;
	int failures = 0, partial = 0, temps = 0, seen[NPAIRS] = { 0 };

	REQUIRE(at_store_open_file(&s, rootp) == 0);
	srand((unsigned)time(NULL));
	for (int it = 0; it < ITER; it++) {
		pid_t pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			struct at_store *cs = NULL;
			if (at_store_open_file(&cs, rootp) != 0)
				_exit(2);
			for (int i = it;; i++) {
				struct at_cert_record r = rec_of(i % NPAIRS);
				if (at_cert_record_save(cs, "ca", &r) != 0)
					_exit(3);
			}
		}
		usleep((useconds_t)(rand() % 20001));
		kill(pid, SIGKILL);
		int st = 0;
		waitpid(pid, &st, 0);
		if (!WIFSIGNALED(st)) {
			fprintf(stderr, "  child ended by itself (status %d)\n", st);
			failures++;
		}
		struct at_cert_record got;
		memset(&got, 0, sizeof got);
		int rc = at_cert_record_load(s, "ca", "example.com", &got);
		if (rc != 0) {
			fprintf(stderr, "  iteration %d: load failed: %s\n", it, at_strerror(rc));
			failures++;
			continue;
		}
		int which = -1;
		for (int i = 0; i < NPAIRS; i++)
			if (got.key_len == pairs[i].kl && memcmp(got.key_pem, pairs[i].key, got.key_len) == 0 &&
			    got.chain_len == pairs[i].cl && memcmp(got.chain_pem, pairs[i].cert, got.chain_len) == 0)
				which = i;
		if (which < 0)
			failures++;
		else
			seen[which]++;
		at_cert_record_clear(&got);
		temps = 0;
		check_tree(rootp, &partial, &temps);
	}
	at_store_close(s);
	CHECK_INT(failures, ==, 0);
	CHECK_INT(partial, ==, 0);
	printf("  %d kills: live record always whole; pairs seen %d/%d/%d/%d; %d interrupted temporaries left (swept after an hour)\n", ITER,
	       seen[0], seen[1], seen[2], seen[3], temps);
}

/* Runs in a child, as an unprivileged user when we are root (root ignores folder permissions). */
static int readonly_child(void)
{
	char dir[64];
	struct at_store *s = NULL;
	struct at_cert_record r, got;
	char p[256];
	int rc;

	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 10;
	snprintf(dir, sizeof dir, "/tmp/at-ro-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 11;
	if (at_store_open_file(&s, dir) != 0)
		return 12;
	r = rec_of(0);
	if (at_cert_record_save(s, "ca", &r) != 0)
		return 13;
	/* the live folder read-only: staging works, promotion fails, the staged copy is removed */
	snprintf(p, sizeof p, "%s/certificates/ca/example.com", dir);
	if (chmod(p, 0500) != 0)
		return 14;
	r = rec_of(1);
	rc = at_cert_record_save(s, "ca", &r);
	if (rc != AT_E_PERM)
		return 15;
	memset(&got, 0, sizeof got);
	if (at_cert_record_load(s, "ca", "example.com", &got) != 0 || got.key_len != pairs[0].kl ||
	    memcmp(got.key_pem, pairs[0].key, got.key_len) != 0)
		return 16;
	at_cert_record_clear(&got);
	snprintf(p, sizeof p, "%s/staging/ca/example.com/record", dir);
	if (access(p, F_OK) == 0)
		return 17;
	/* the whole store read-only: staging itself fails */
	snprintf(p, sizeof p, "%s/staging", dir);
	if (chmod(p, 0500) != 0)
		return 18;
	if (at_cert_record_save(s, "ca", &r) != AT_E_PERM)
		return 19;
	if (at_store_put(s, "staging/x", "x", 1) != AT_E_PERM)
		return 20;
	if (at_cert_record_load(s, "ca", "example.com", &got) != 0 || got.key_len != pairs[0].kl)
		return 21;
	at_cert_record_clear(&got);
	at_store_close(s);
	snprintf(p, sizeof p, "chmod -R u+w '%s' && rm -rf '%s'", dir, dir);
	return system(p) == 0 ? 0 : 22;
}

static void test_readonly(void)
{
	pid_t pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0)
		_exit(readonly_child());
	int st = 0;
	waitpid(pid, &st, 0);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		fprintf(stderr, "  read-only child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	snprintf(rootp, sizeof rootp, "/tmp/at-crash-XXXXXX");
	if (mkdtemp(rootp) == NULL)
		return 1;
	setup_pairs();
	RUN(test_kill_loop);
	RUN(test_readonly);
	int rc = TEST_EXIT();
	if (rc == 0) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", rootp);
		if (system(cmd) != 0)
			return 1;
	}
	for (int i = 0; i < NPAIRS; i++) {
		free(pairs[i].key);
		free(pairs[i].cert);
		free(pairs[i].raw);
	}
	return rc;
}
