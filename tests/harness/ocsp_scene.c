/* The OCSP scene for the stapling tests (see ocsp_scene.h). */
#include "tests/harness/ocsp_scene.h"
#include "tests/harness/files.h"
#include "tests/harness/netns.h"
#include "tests/harness/pebble.h"
#include "tests/harness/proc.h"
#include "tests/harness/spawn.h"
#include "tests/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int count_in(const char *path, const char *needle)
{
	char *t = harness_read_file(path, NULL);
	int n = 0;
	for (char *p = t; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(t);
	return n;
}

static int responder_run(struct harness_ocsp *o)
{
	static const char ready[] = "waiting for OCSP client connections";
	char port[16];
	snprintf(port, sizeof(port), "%d", o->port);
	char *ca = (char *)hostile_ca_ca_file(o->hc);
	char *argv[] = { "openssl", "ocsp", "-index", o->index_path, "-port", port, "-rsigner", ca, "-rkey", o->ca_key,
			 "-CA", ca, "-nmin", "1", NULL };
	struct harness_spawn_opts so = { .argv = argv, .out_path = o->log, .own_group = 1, .die_with_us = 1 };
	o->index_seen = file_size(o->index_path);
	int before = count_in(o->log, ready);
	if (harness_spawn(&so, &o->pid) != 0)
		return -1;
	/* Not a probe connection: one without a request made OpenSSL 3.0's responder spin with -ignore_err, and
	 * without it may end it. Its log says when it listens. */
	for (int i = 0; i < 200 && count_in(o->log, ready) == before; i++)
		harness_sleep_ms(25);
	return count_in(o->log, ready) > before ? 0 : -1;
}

int harness_ocsp_start(struct harness_ocsp *o, struct hostile_ca *hc, const char *base)
{
	memset(o, 0, sizeof(*o));
	o->hc = hc;
	o->pid = -1;
	snprintf(o->index_path, sizeof(o->index_path), "%s/index.txt", base);
	snprintf(o->ca_key, sizeof(o->ca_key), "%s/ca.key", base);
	snprintf(o->log, sizeof(o->log), "%s/ocsp.log", base);
	o->port = harness_free_port();
	snprintf(o->url, sizeof(o->url), "http://127.0.0.1:%d", o->port);
	if (hostile_ca_set_ocsp(hc, o->url, o->index_path) != 0 || hostile_ca_write_key(hc, o->ca_key) != 0)
		return -1;
	/* Two valid leaves with one subject (two orders for one name, say) make the responder refuse the whole
	 * index unless its attributes say subjects need not be unique. */
	char attr[200];
	snprintf(attr, sizeof(attr), "%s.attr", o->index_path);
	FILE *f = fopen(attr, "w");
	if (f == NULL || fputs("unique_subject = no\n", f) < 0 || fclose(f) != 0)
		return -1;
	return responder_run(o);
}

void harness_ocsp_follow(struct harness_ocsp *o)
{
	if (file_size(o->index_path) == o->index_seen)
		return;
	harness_stop_child(o->pid, SIGTERM, 2000, 1);
	o->pid = -1;
	if (responder_run(o) != 0)
		fprintf(stderr, "  the OCSP responder did not start again\n");
}

void harness_ocsp_stop(struct harness_ocsp *o)
{
	if (o->pid > 0)
		harness_stop_child(o->pid, SIGTERM, 2000, 1);
	o->pid = -1;
}

int harness_ocsp_revoke(struct harness_ocsp *o, const char *serial)
{
	char *text = harness_read_file(o->index_path, NULL), rev[32], needle[96];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	/* The index's UTCTime: two-digit years (RFC 5280 4.1.2.5.1, as openssl ca writes them). */
	snprintf(rev, sizeof(rev), "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec);
	snprintf(needle, sizeof(needle), "\t\t%s\t", serial);
	FILE *f = text ? fopen(o->index_path, "w") : NULL;
	int found = 0;
	for (char *line = text; f != NULL && line && *line;) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		char *hit = strstr(line, needle);
		if (line[0] == 'V' && hit != NULL) {
			fprintf(f, "R%.*s\t%s,keyCompromise%s\n", (int)(hit - line - 1), line + 1, rev, hit + 1);
			found = 1;
		} else {
			fprintf(f, "%s\n", line);
		}
		line = end ? end + 1 : NULL;
	}
	int ok = f != NULL && fclose(f) == 0 && found;
	free(text);
	return ok ? 0 : -1;
}

void harness_ocsp_seen_clear(struct harness_ocsp_seen *s)
{
	free(s->ocsp);
	X509_free(s->leaf);
	X509_free(s->issuer);
	memset(s, 0, sizeof(*s));
}

int harness_ocsp_handshake(int port, const char *sni, const char *root, struct harness_ocsp_seen *out)
{
	memset(out, 0, sizeof(*out));
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ctx == NULL || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto out;
	if (root != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, root, NULL) != 1)
			goto out;
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL || !SSL_set_tlsext_host_name(ssl, sni) || !SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp) ||
	    (root != NULL && !SSL_set1_host(ssl, sni)) || !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1)
		goto out;
	out->leaf = SSL_get1_peer_certificate(ssl);
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	if (out->leaf == NULL || harness_serial_hex(out->leaf, out->serial, sizeof(out->serial)) != 0)
		goto out;
	if (sk_X509_num(chain) > 1 && (out->issuer = sk_X509_value(chain, 1)) != NULL)
		X509_up_ref(out->issuer);
	const unsigned char *resp = NULL;
	long n = SSL_get_tlsext_status_ocsp_resp(ssl, &resp);
	if (resp != NULL && n > 0 && (out->ocsp = malloc((size_t)n)) != NULL) {
		memcpy(out->ocsp, resp, (size_t)n);
		out->ocsp_len = n;
	}
	rc = 0;
out:
	if (ssl != NULL)
		SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	ERR_clear_error();
	if (rc != 0)
		harness_ocsp_seen_clear(out);
	return rc;
}

int harness_ocsp_status(const struct harness_ocsp_seen *s, const char *ca_file)
{
	const unsigned char *p = s->ocsp;
	OCSP_RESPONSE *r = s->ocsp ? d2i_OCSP_RESPONSE(NULL, &p, s->ocsp_len) : NULL;
	OCSP_BASICRESP *bs = r ? OCSP_response_get1_basic(r) : NULL;
	X509_STORE *st = X509_STORE_new();
	X509 *ca = NULL;
	FILE *f = fopen(ca_file, "r");
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *thisu = NULL, *nextu = NULL;
	int status = -1, reason;
	if (f != NULL) {
		ca = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (bs != NULL && st != NULL && ca != NULL && s->issuer != NULL && X509_STORE_add_cert(st, ca) == 1 &&
	    OCSP_basic_verify(bs, NULL, st, 0) == 1 && (id = OCSP_cert_to_id(NULL, s->leaf, s->issuer)) != NULL &&
	    OCSP_resp_find_status(bs, id, &status, &reason, NULL, &thisu, &nextu) == 1 &&
	    OCSP_check_validity(thisu, nextu, 300, -1) != 1)
		status = -1;
	if (id == NULL)
		status = -1;
	OCSP_CERTID_free(id);
	X509_free(ca);
	X509_STORE_free(st);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
	ERR_clear_error();
	return status;
}

long harness_ocsp_wait_stapled(struct harness_ocsp *o, int port, const char *sni, const char *not, long limit_ms,
			       long poll_ms, struct harness_ocsp_seen *s)
{
	const char *ca = hostile_ca_ca_file(o->hc);
	long t0 = harness_now_ms();
	while (harness_now_ms() - t0 < limit_ms) {
		harness_ocsp_follow(o);
		if (harness_ocsp_handshake(port, sni, ca, s) == 0) {
			if ((not == NULL || strcmp(s->serial, not) != 0) && harness_ocsp_status(s, ca) == V_OCSP_CERTSTATUS_GOOD)
				return harness_now_ms() - t0;
			harness_ocsp_seen_clear(s);
		}
		harness_sleep_ms(poll_ms);
	}
	return -1;
}

int harness_ocsp_host_staple(const struct harness_ocsp *o, const char *path)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "openssl ocsp -issuer %s -serial 0x99 -url %s -respout %s -noverify >/dev/null 2>&1",
		 hostile_ca_ca_file(o->hc), o->url, path);
	return system(cmd) == 0 && file_size(path) > 0 ? 0 : -1;
}

static const char hook_body[] = "#!/bin/sh\n"
				"echo \"event=$AUTOTLS_EVENT|names=$AUTOTLS_NAMES|error=$AUTOTLS_ERROR|\" >> \"$(dirname \"$0\")/events\"\n";

int harness_ocsp_shim_env(struct harness_ocsp_shim *sh, const struct harness_ocsp *o, const char *base, const char *name,
			  const char *const *extra)
{
	char log[PATH_MAX];
	int k = 0;
	memset(sh, 0, sizeof(*sh));
	snprintf(sh->store, sizeof(sh->store), "%s/store", base);
	snprintf(sh->events, sizeof(sh->events), "%s/events", base);
	snprintf(sh->hook, sizeof(sh->hook), "%s/hook.sh", base);
	snprintf(sh->e_hook, sizeof(sh->e_hook), "AUTOTLS_HOOK=%s", sh->hook);
	snprintf(log, sizeof(log), "%s/autotls.log", base);
	FILE *f = fopen(sh->hook, "w");
	if (f == NULL || fputs(hook_body, f) < 0 || fclose(f) != 0 || chmod(sh->hook, 0755) != 0)
		return -1;
	if (hostile_shim_settings(&sh->set, sh->env, &k, name, hostile_ca_directory_url(o->hc), hostile_ca_ca_file(o->hc),
				  sh->store, log) != 0)
		return -1;
	sh->env[k++] = sh->e_hook;
	for (int i = 0; extra != NULL && extra[i] != NULL; i++) {
		if (i == 8)
			return -1;
		sh->env[k++] = (char *)extra[i];
	}
	sh->n = hostile_shim_settings_end(&sh->set, sh->env, k);
	return 0;
}

int harness_ocsp_events(const struct harness_ocsp_shim *sh, const char *needle)
{
	return count_in(sh->events, needle);
}

int harness_ocsp_server_start(char *const *env, const char *base, const char *cert, const char *key,
			      const char *status_file, int *port, pid_t *pid)
{
	char accept[32], out[160], ca_cert[PATH_MAX], ca_key[PATH_MAX], status[PATH_MAX];
	*pid = -1;
	*port = harness_free_port();
	snprintf(accept, sizeof(accept), "127.0.0.1:%d", *port);
	snprintf(out, sizeof(out), "%s/s_server.out", base);
	snprintf(ca_cert, sizeof(ca_cert), "%s", cert);
	snprintf(ca_key, sizeof(ca_key), "%s", key);
	snprintf(status, sizeof(status), "%s", status_file ? status_file : "");
	char *argv[] = { "openssl", "s_server", "-accept", accept, "-cert", ca_cert, "-key", ca_key, "-www",
			 status_file ? "-status_file" : NULL, status, NULL };
	struct harness_spawn_opts o = { .argv = argv, .extra_env = env, .out_path = out, .own_group = 1, .die_with_us = 1 };
	if (harness_spawn(&o, pid) != 0)
		return -1;
	for (int i = 0; i < 300 && !harness_tcp_connects(*port); i++)
		harness_sleep_ms(50);
	return harness_tcp_connects(*port) ? 0 : -1;
}

int harness_ocsp_scene_open(char *base, size_t cap, const char *tag, struct hostile_ca **hc)
{
	if (harness_netns_private() != 0)
		return -1;
	snprintf(base, cap, "/tmp/autotls-%s-XXXXXX", tag);
	harness_ignore_sigpipe();
	if (mkdtemp(base) == NULL || chmod(base, 0755) != 0 || hostile_ca_start(hc, base) != 0) {
		fprintf(stderr, "cannot set up the scripted CA\n");
		return -1;
	}
	return 0;
}

int harness_ocsp_scene_close(const char *base, struct hostile_ca *hc, struct harness_ocsp *o, pid_t server,
			     int setup_ok, size_t tail_bytes)
{
	if (!setup_ok)
		fprintf(stderr, "cannot set up the OCSP responder or the server\n");
	if (!setup_ok || test_failed_total) {
		char log[PATH_MAX];
		snprintf(log, sizeof(log), "%s/autotls.log", base);
		harness_print_tail("autotls.log", log, tail_bytes);
		harness_print_tail("ocsp.log", o->log, 2000);
	}
	if (server > 0)
		harness_stop_child(server, SIGTERM, 5000, 1);
	harness_ocsp_stop(o);
	hostile_ca_stop(hc);
	harness_remove_or_keep(base);
	return setup_ok ? TEST_EXIT() : 1;
}
