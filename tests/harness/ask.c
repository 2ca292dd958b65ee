/* The test ask URL (see ask.h). */
#include "tests/harness/ask.h"
#include "tests/harness/files.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char script_text[] =
	"import http.server, sys, urllib.parse\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def log_message(self, *a): pass\n"
	"    def do_GET(self):\n"
	"        d = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get('domain', [''])[0]\n"
	"        with open(sys.argv[2], 'a') as f: f.write(d + '\\n')\n"
	"        self.send_response(200 if d.startswith('yes') else 403)\n"
	"        self.send_header('Content-Length', '0')\n"
	"        self.end_headers()\n"
	"http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

int harness_ask_start(struct harness_ask *a)
{
	char script[128], port_s[16];
	memset(a, 0, sizeof(*a));
	snprintf(a->dir, sizeof(a->dir), "/tmp/autotls-ask-XXXXXX");
	if (mkdtemp(a->dir) == NULL) {
		a->dir[0] = '\0';
		return -1;
	}
	snprintf(script, sizeof(script), "%s/ask.py", a->dir);
	snprintf(a->log, sizeof(a->log), "%s/asked.log", a->dir);
	FILE *f = fopen(script, "w");
	if (f == NULL || fputs(script_text, f) < 0 || fclose(f) != 0)
		goto fail;
	a->port = harness_free_port();
	snprintf(port_s, sizeof(port_s), "%d", a->port);
	snprintf(a->env, sizeof(a->env), "AUTOTLS_ASK=http://127.0.0.1:%d/check", a->port);
	a->pid = fork();
	if (a->pid < 0)
		goto fail;
	if (a->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execlp("python3", "python3", script, port_s, a->log, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (harness_tcp_connects(a->port))
			return 0;
		harness_sleep_ms(25);
	}
	fprintf(stderr, "  ask: the ask URL server did not start on port %d\n", a->port);
fail:
	harness_ask_stop(a);
	return -1;
}

int harness_ask_count(const struct harness_ask *a, const char *name)
{
	char *text = harness_read_file(a->log, NULL);
	int n = 0;
	size_t len = strlen(name);
	for (char *l = text; l && *l;) {
		char *end = strchr(l, '\n');
		size_t ll = end ? (size_t)(end - l) : strlen(l);
		n += ll == len && strncmp(l, name, len) == 0;
		l = end ? end + 1 : l + ll;
	}
	free(text);
	return n;
}

void harness_ask_stop(struct harness_ask *a)
{
	if (a->pid > 0)
		harness_stop_child(a->pid, SIGTERM, 2000, 0);
	a->pid = 0;
	if (a->dir[0] != '\0')
		harness_remove_tree(a->dir);
	a->dir[0] = '\0';
}
