/*
 * valgrind's memcheck over one issuance and one renewal inside `openssl s_server` under the shim. Pebble issues
 * 30-second certificates (tlsPort = s_server's port); s_server runs as
 *   valgrind --tool=memcheck --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite
 *            --show-leak-kinds=definite --log-file=<dir>/vg.%p.log openssl s_server ...
 * with LD_PRELOAD and the AUTOTLS_* settings in its environment (valgrind hands them on, adding its own
 * preloads). --trace-children follows the autotls-manager process the preload posix_spawns, so both processes
 * are checked: the test fails if no log names autotls-manager.
 *
 * After the first verified handshake and one renewal (the serial changes) the server gets SIGTERM; the manager
 * process then exits through its lifeline. Every vg.*.log must end in "ERROR SUMMARY: 0 errors" (s_server's
 * too: it has no definite leak of its own, its state is still reachable when SIGTERM ends it), and no error
 * record may have a stack frame in libautotls*.so, autotls-manager or our sources; every record is printed as
 * ours or not ours, so that a future OpenSSL/s_server leak is told apart at once. No suppressions needed.
 */
#include "tests/harness/files.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/pebble.h"
#include "tests/harness/placeholder.h"
#include "tests/harness/proc.h"
#include "tests/harness/tlsverify.h"
#include "tests/test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME "a.example.test"
#define FIRST_TIMEOUT_MS 180000L
#define RENEW_TIMEOUT_MS 90000L
#define EXIT_TIMEOUT_MS 120000L

static char dir[256], lib[PATH_MAX], srcdir[PATH_MAX];

/* A verified handshake to NAME; its serial into serial. Client chatter silenced. */
static int verified(int port, const char *root, char *serial, size_t cap)
{
	struct tls_client_result r;
	int saved = log_silence_begin(), rc;

	memset(&r, 0, sizeof(r));
	rc = tls_client_connect(port, NAME, NULL, 0, root, NAME, &r);
	log_silence_end(saved);
	if (rc == 0)
		snprintf(serial, cap, "%s", r.serial);
	return rc;
}

/* 1 when a valgrind stack frame line belongs to us: our libraries, our executable, or a source under srcdir
 * (valgrind names the source file rather than the object when there is debug information). */
static int frame_is_ours(const char *line)
{
	static const char *const ours[] = {"libautotls", "autotls-manager", "/shim/", "/acme/", "/store/",
					   "/engine/", "/util/"};
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strstr(line, ours[i]) != NULL) {
			/* Source paths count only under our tree (--fullpath-after= prints them whole). */
			if (ours[i][0] == '/' && strstr(line, srcdir) == NULL)
				continue;
			return 1;
		}
	return 0;
}

struct vg_log {
	char path[PATH_MAX];
	char command[256];
	int has_summary;
	long summary_errors;
	int records, our_records, definite_ours;
};

/*
 * Splits a log into records (a record starts at a "==pid== " line with text after a blank "==pid==" line) and
 * counts the records that are errors (anything but the header, the heap/leak summaries and the final lines)
 * and those among them with a frame of ours. Prints every record of ours, and the first line of the others.
 */
static void scan_log(struct vg_log *v)
{
	size_t len = 0;
	char *text = harness_read_file(v->path, &len);
	char record[65536];
	size_t rlen = 0;
	int in_record = 0, ours = 0, definite = 0, is_error = 0;

	if (text == NULL)
		return;
	char *cmd = strstr(text, "Command: ");
	if (cmd != NULL)
		snprintf(v->command, sizeof(v->command), "%.*s", (int)strcspn(cmd + 9, "\n"), cmd + 9);
	char *sum = strstr(text, "ERROR SUMMARY: ");
	if (sum != NULL) {
		v->has_summary = 1;
		v->summary_errors = strtol(sum + 15, NULL, 10);
	}
	for (char *line = text; line < text + len;) {
		char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		char *body = strstr(line, "== ");
		int blank = body == NULL || body > line + n || body + 3 >= line + n;
		if (blank) {
			if (in_record && is_error) {
				v->records++;
				if (ours) {
					v->our_records++;
					v->definite_ours += definite;
					fprintf(stderr, "  %s: an error of ours:\n%.*s", v->path, (int)rlen, record);
				} else {
					fprintf(stderr, "  %s: not ours: %.*s", v->path, (int)strcspn(record, "\n"), record);
					fprintf(stderr, "\n");
				}
			}
			in_record = ours = definite = is_error = 0;
			rlen = 0;
		} else {
			if (!in_record) {
				in_record = 1;
				/* Records that are not errors: the header, summaries, notes, the final counts. */
				is_error = strstr(body, "Memcheck,") == NULL && strstr(body, "Copyright") == NULL &&
					   strstr(body, "Using Valgrind") == NULL && strstr(body, "Command:") == NULL &&
					   strstr(body, "HEAP SUMMARY") == NULL && strstr(body, "LEAK SUMMARY") == NULL &&
					   strstr(body, "ERROR SUMMARY") == NULL && strstr(body, "For lists of") == NULL &&
					   strstr(body, "Process terminating") == NULL &&
					   strstr(body, "All heap blocks were freed") == NULL &&
					   strstr(body, "For counts of") == NULL && strstr(body, "Parent PID") == NULL &&
					   strstr(body, "Warning: ") == NULL && strstr(body, "in use at exit") == NULL &&
					   strstr(body, "To see them") == NULL && strstr(body, "Reachable blocks") == NULL &&
					   strstr(body, "Rerun with") == NULL && strstr(body, "Searching for") == NULL &&
					   strstr(body, "Checked ") == NULL;
			}
			definite |= strstr(body, "definitely lost") != NULL;
			ours |= frame_is_ours(body);
			if (rlen + n + 2 < sizeof(record)) {
				memcpy(record + rlen, line, n);
				rlen += n;
				record[rlen++] = '\n';
				record[rlen] = '\0';
			}
		}
		line += n + 1;
	}
	free(text);
}

static void memcheck_issue_and_renew(void)
{
	struct pebble p;
	struct pebble_opts po = {0};
	char cert[300], key[300], store[300], log[300], out[300], accept_arg[64], roots[PATH_MAX];
	char e_preload[PATH_MAX + 16], e_domains[64], e_ca[200], e_roots[PATH_MAX + 32], e_storage[320], e_log[320];
	int port, pebble_up = 0;
	pid_t pid = -1;

	harness_ignore_sigpipe();
	REQUIRE(harness_shim_lib_path(lib, sizeof(lib)) == 0);
	REQUIRE(getcwd(srcdir, sizeof(srcdir)) != NULL);
	snprintf(dir, sizeof(dir), "/tmp/autotls-memcheck-XXXXXX");
	REQUIRE(mkdtemp(dir) != NULL);
	chmod(dir, 0755);
	port = harness_free_port();
	REQUIRE(port > 0);
	po.tls_port = port;
	po.authz_reuse = -1;
	po.validity_s = 30;
	if (pebble_start(&p, &po) != 0) {
		CHECK(!"pebble started");
		goto out;
	}
	pebble_up = 1;

	/* s_server's own placeholder. */
	snprintf(cert, sizeof(cert), "%s/placeholder.pem", dir);
	snprintf(key, sizeof(key), "%s/placeholder.key", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	snprintf(log, sizeof(log), "%s/autotls.log", dir);
	snprintf(out, sizeof(out), "%s/s_server.out", dir);
	snprintf(roots, sizeof(roots), "%s", p.api_root_file);
	CHECK_OK(harness_placeholder(cert, key, "placeholder.test", NULL, 0));
	snprintf(e_preload, sizeof(e_preload), "LD_PRELOAD=%s", lib);
	snprintf(e_domains, sizeof(e_domains), "AUTOTLS_DOMAINS=%s", NAME);
	snprintf(e_ca, sizeof(e_ca), "AUTOTLS_CA=%s", p.directory_url);
	snprintf(e_roots, sizeof(e_roots), "AUTOTLS_CA_ROOTS=%s", roots);
	snprintf(e_storage, sizeof(e_storage), "AUTOTLS_STORAGE=%s", store);
	snprintf(e_log, sizeof(e_log), "AUTOTLS_LOG=%s", log);
	snprintf(accept_arg, sizeof(accept_arg), "127.0.0.1:%d", port);

	char logarg[300];
	snprintf(logarg, sizeof(logarg), "--log-file=%s/vg.%%p.log", dir);
	char *argv[] = {"valgrind", "--tool=memcheck", "--trace-children=yes", "--leak-check=full",
			"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", "--num-callers=30",
			"--fullpath-after=", logarg, "openssl", "s_server", "-accept", accept_arg, "-cert", cert,
			"-key", key, "-www", "-alpn", "h2,http/1.1", NULL};
	pid_t parent = getpid();
	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		int nul = open("/dev/null", O_RDONLY);
		dup2(nul, 0);
		putenv(e_preload);
		putenv(e_domains);
		putenv(e_ca);
		putenv(e_roots);
		putenv(e_storage);
		putenv(e_log);
		putenv("AUTOTLS_LOG_LEVEL=debug");
		putenv("AUTOTLS_CHALLENGES=tls-alpn-01"); /* Pebble validates HTTP-01 on no port of ours here */
		execvp(argv[0], argv);
		_exit(127);
	}
	REQUIRE(pid > 0);

	char first[80] = "", second[80] = "", serial[80];
	long t0 = harness_now_ms(), t_first = -1, t_second = -1;
	while (harness_now_ms() - t0 < FIRST_TIMEOUT_MS) {
		if (verified(port, p.issuing_root_file, serial, sizeof(serial)) == 0) {
			snprintf(first, sizeof(first), "%s", serial);
			t_first = harness_now_ms() - t0;
			break;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			pid = -1;
			break;
		}
		harness_sleep_ms(250);
	}
	fprintf(stderr, "  first certificate %s after %ld ms under valgrind\n", first[0] ? first : "(none)", t_first);
	CHECK(first[0] != '\0');
	long t1 = harness_now_ms();
	while (first[0] && pid > 0 && harness_now_ms() - t1 < RENEW_TIMEOUT_MS) {
		if (verified(port, p.issuing_root_file, serial, sizeof(serial)) == 0 && strcmp(serial, first) != 0) {
			snprintf(second, sizeof(second), "%s", serial);
			t_second = harness_now_ms() - t1;
			break;
		}
		harness_sleep_ms(500);
	}
	fprintf(stderr, "  renewed to %s %ld ms after the first\n", second[0] ? second : "(none)", t_second);
	CHECK(second[0] != '\0');
	CHECK_INT(pebble_count_orders(&p), >=, 2);

	/* Stop: SIGTERM to s_server (valgrind runs it as pid); the manager leaves through its lifeline. */
	if (pid > 0) {
		kill(pid, SIGTERM);
		long ts = harness_now_ms();
		int st = 0;
		while (waitpid(pid, &st, WNOHANG) != pid) {
			if (harness_now_ms() - ts > EXIT_TIMEOUT_MS) {
				CHECK(!"s_server under valgrind exited after SIGTERM");
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				break;
			}
			harness_sleep_ms(200);
		}
		fprintf(stderr, "  s_server gone %ld ms after SIGTERM (status 0x%x)\n", harness_now_ms() - ts, st);
		pid = -1;
	}

	/* Every vg log ends with its summary once its process is gone (the manager exits on its own). */
	struct vg_log logs[16];
	int nlogs = 0, complete = 0;
	long tw = harness_now_ms();
	for (;;) {
		DIR *d = opendir(dir);
		struct dirent *de;
		nlogs = 0;
		complete = 1;
		while (d && (de = readdir(d)) != NULL && nlogs < 16) {
			if (strncmp(de->d_name, "vg.", 3) != 0)
				continue;
			memset(&logs[nlogs], 0, sizeof(logs[0]));
			snprintf(logs[nlogs].path, sizeof(logs[0].path), "%s/%s", dir, de->d_name);
			char *t = harness_read_file(logs[nlogs].path, NULL);
			complete &= t != NULL && strstr(t, "ERROR SUMMARY: ") != NULL;
			free(t);
			nlogs++;
		}
		if (d)
			closedir(d);
		if (complete || harness_now_ms() - tw > EXIT_TIMEOUT_MS)
			break;
		harness_sleep_ms(500);
	}
	fprintf(stderr, "  %d valgrind logs, all complete: %s (%ld ms after the server)\n", nlogs,
		complete ? "yes" : "no", harness_now_ms() - tw);
	CHECK(complete);
	int saw_server = 0, saw_manager = 0;
	for (int i = 0; i < nlogs; i++) {
		struct vg_log *v = &logs[i];
		scan_log(v);
		int is_manager = strstr(v->command, "autotls-manager") != NULL;
		int is_server = strstr(v->command, "s_server") != NULL;
		saw_manager |= is_manager;
		saw_server |= is_server;
		fprintf(stderr, "  %s: [%s] summary %s %ld errors; %d error records, %d with frames of ours (%d "
				"definitely lost)\n",
			v->path, v->command, v->has_summary ? "present," : "MISSING,", v->summary_errors, v->records,
			v->our_records, v->definite_ours);
		CHECK(v->has_summary);
		CHECK_INT(v->our_records, ==, 0);
		CHECK_INT(v->definite_ours, ==, 0);
		/* Strict for both: s_server reports no definite leak of its own today (it dies by SIGTERM with its
		 * state still reachable). Should OpenSSL or s_server start reporting some, the records above already
		 * say which are not ours. */
		CHECK_INT(v->summary_errors, ==, 0);
	}
	CHECK(saw_server);
	if (!saw_manager)
		fprintf(stderr, "  the autotls-manager process was NOT traced by valgrind (no log names it)\n");
	CHECK(saw_manager);

out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (test_failed_now)
		harness_print_tail("shim log", log, 3000);
	if (pebble_up)
		pebble_stop(&p);
	harness_remove_or_keep(dir);
}

int main(void)
{
	RUN(memcheck_issue_and_renew);
	return TEST_EXIT();
}
