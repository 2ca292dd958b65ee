/*
 * libFuzzer: the ACME client's handling of what a CA answers (directory, account, order, authorization,
 * challenge, finalize, certificate, renewalInfo), through the HTTP seam. The input is the CA:
 *
 *   - split at each "\n=====\n" into up to MAX_BODIES response bodies, served in order to every GET and POST
 *     (the last one again once they run out); an input without the separator answers every request with the
 *     whole input, so one JSON object holding every member drives the whole issuance;
 *   - a body starting "-----BEGIN" is application/pem-certificate-chain, one holding an ACME error URN is
 *     application/problem+json with status 400, anything else application/json with status 200 (201 for a
 *     new account or order); every response carries a Location and a Replay-Nonce; HEAD (newNonce) gets 200.
 *
 * No Retry-After is ever sent and the poll deadline is short, so every input ends within about 50 ms of
 * polling. The certificate key is fixed (below) so a seed can hold a chain that passes the final check.
 */
#include "acme/acme.h"
#include "tests/fuzz/fuzz_check.h"
#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"
#include "util/x509.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CA "https://ca.test"
#define SEP "\n=====\n"
#define MAX_BODIES 16
#define MAX_REQUESTS 200 /* a runaway loop in the client is a finding, not a hang */

static const char CERT_KEY_PEM[] =
"-----BEGIN PRIVATE KEY-----\n"
"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgN1iZucspiGZ1wvfX\n"
"4+IGUr+vDealvZ+dF0kuaZOrk+ehRANCAARwTEZaDt9opeC29ILNAos/rhPo9pB+\n"
"owCI68cxYuCGIxXEH/oDVTeSdHoPwZjc2fjI6nV3V8HvmLmNf8/6iVOM\n"
"-----END PRIVATE KEY-----\n"
	;

struct fake_ca {
	const char *body[MAX_BODIES];
	size_t len[MAX_BODIES];
	size_t n, next;
	unsigned nonce;
	unsigned requests;
};

static char *dup_n(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static int fake_perform(void *ctx, const struct at_http_request *req, struct at_http_response *resp)
{
	struct fake_ca *f = ctx;
	char nonce[32];

	FUZZ_CHECK(++f->requests <= MAX_REQUESTS);
	memset(resp, 0, sizeof *resp);
	snprintf(nonce, sizeof nonce, "nonce-%u", f->nonce++);
	resp->replay_nonce = strdup(nonce);
	if (strcmp(req->method, "HEAD") == 0) {
		resp->status = 200;
		return 0;
	}
	size_t i = f->next < f->n ? f->next++ : f->n - 1;
	const char *b = f->body[i];
	size_t len = f->len[i];
	size_t cap = req->max_body ? req->max_body : AT_HTTP_MAX_BODY;
	if (len > cap)
		return AT_E_TOOBIG;
	resp->body = dup_n(b, len);
	resp->body_len = len;
	resp->location = strdup(CA "/loc/1");
	if (len >= 10 && memcmp(b, "-----BEGIN", 10) == 0) {
		resp->status = 200;
		resp->content_type = strdup("application/pem-certificate-chain");
	} else if (memmem(b, len, "urn:ietf:params:acme:error:", 27) != NULL) {
		resp->status = 400;
		resp->content_type = strdup("application/problem+json");
	} else {
		resp->status = 200;
		if (strcmp(req->url, CA "/new-acct") == 0 || strcmp(req->url, CA "/new-order") == 0)
			resp->status = 201;
		resp->content_type = strdup("application/json");
	}
	return 0;
}

static int present_ok(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	FUZZ_CHECK(ch != NULL && ch->token != NULL && ch->identifier != NULL);
	return 0;
}

static void cleanup_ok(void *ctx, const struct at_challenge *ch)
{
	(void)ctx;
	(void)ch;
}

static struct at_jws_key *account_key;
static EVP_PKEY *cert_key;

static void setup(void)
{
	/* FUZZ_VERBOSE=1 shows the client's log, to see how far a seed gets */
	at_log_set_level(getenv("FUZZ_VERBOSE") ? AT_LOG_DEBUG : AT_LOG_ERROR);
	FUZZ_CHECK(at_jws_key_generate(&account_key, AT_KEY_P256) == 0);
	FUZZ_CHECK(at_key_from_pem(&cert_key, CERT_KEY_PEM, strlen(CERT_KEY_PEM)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_ca f;
	struct at_http_ops ops;
	struct at_acme *c = NULL;
	struct at_acme_directory_info info;
	struct at_acme_cert cert;
	char *acct_url = NULL;
	const char *p = (const char *)data, *end = p + size;

	if (account_key == NULL)
		setup();
	memset(&f, 0, sizeof f);
	while (f.n < MAX_BODIES - 1) {
		const char *s = memmem(p, (size_t)(end - p), SEP, sizeof SEP - 1);
		if (s == NULL)
			break;
		f.body[f.n] = p;
		f.len[f.n++] = (size_t)(s - p);
		p = s + sizeof SEP - 1;
	}
	f.body[f.n] = p;
	f.len[f.n++] = (size_t)(end - p);

	memset(&ops, 0, sizeof ops);
	ops.perform = fake_perform;
	ops.ctx = &f;
	struct at_acme_config cfg = {
		.directory_url = CA "/dir", .http = &ops, .request_timeout_ms = 1000, .poll_timeout_ms = 50,
	};
	FUZZ_CHECK(at_acme_new(&c, &cfg) == 0);
	memset(&info, 0, sizeof info);
	if (at_acme_directory(c, &info) != 0)
		goto out;
	for (size_t i = 0; i < info.nprofiles; i++)
		FUZZ_CHECK(info.profiles[i] != NULL);
	struct at_acme_account_opts aopts = { .email = "admin@example.test", .agree_tos = 1 };
	if (at_acme_account(c, account_key, &aopts, &acct_url) != 0)
		goto out;
	FUZZ_CHECK(acct_url != NULL);
	if (info.renewal_info) {
		struct at_ari_window w;
		memset(&w, 0, sizeof w);
		if (at_acme_renewal_info(c, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &w) == 0)
			FUZZ_CHECK(w.start < w.end);
		at_ari_window_clear(&w);
	}
	static const char *const names[] = { "a.example.test" };
	const struct at_solver solvers[] = {
		{ AT_CHALLENGE_HTTP_01, present_ok, cleanup_ok, NULL },
		{ AT_CHALLENGE_TLS_ALPN_01, present_ok, cleanup_ok, NULL },
		{ AT_CHALLENGE_DNS_01, present_ok, cleanup_ok, NULL },
	};
	struct at_acme_order_opts oopts = {
		.names = names, .nnames = 1, .key_type = AT_KEY_P256, .cert_key = cert_key,
		.solvers = solvers, .nsolvers = 3, .profile = "classic",
		.replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE",
	};
	memset(&cert, 0, sizeof cert);
	int rc = at_acme_obtain(c, &oopts, &cert);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "fuzz_acme_json: at_acme_obtain: %d after %u requests\n", rc, f.requests);
	if (rc == 0) {
		/* success means the chain holds our key and exactly our names */
		FUZZ_CHECK(cert.chain_pem != NULL && cert.key_pem != NULL);
		FUZZ_CHECK(at_chain_check(cert.chain_pem, cert.chain_len, cert.key_pem, cert.key_len, names, 1,
					  NULL, AT_CHECK_NAMES_EXACT, NULL) == 0);
	}
	at_acme_cert_clear(&cert);
out:
	free(acct_url);
	at_acme_free(c);
	return 0;
}
