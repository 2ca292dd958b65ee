/* store/certs.c: CA components, record round trip, and refusals that leave the live record alone. */
#include "store/certs.h"
#include "store/store.h"
#include "util/err.h"
#include "tests/harness/certgen.h"
#include "tests/test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char rootp[64];

static void test_ca_component(void)
{
	char out[256];

	CHECK_OK(at_store_ca_component(out, sizeof out, "https://acme-v02.api.letsencrypt.org/directory"));
	CHECK_STR(out, "acme-v02.api.letsencrypt.org-directory");
	CHECK_OK(at_store_ca_component(out, sizeof out, "https://acme-v02.api.letsencrypt.org/directory/"));
	CHECK_STR(out, "acme-v02.api.letsencrypt.org-directory");
	CHECK_OK(at_store_ca_component(out, sizeof out, "https://LOCALHOST:14000/dir"));
	CHECK_STR(out, "localhost-14000-dir");
	CHECK_OK(at_store_ca_component(out, sizeof out, "https://../../etc"));
	CHECK(out[0] != '.' && strchr(out, '/') == NULL);
	CHECK_INT(at_store_ca_component(out, sizeof out, "no-scheme"), ==, AT_E_INVAL);
	CHECK_INT(at_store_ca_component(out, sizeof out, "https://"), ==, AT_E_INVAL);
	CHECK_INT(at_store_ca_component(out, 8, "https://example.com/directory"), ==, AT_E_RANGE);
}

struct pair {
	char *key, *cert;
	size_t kl, cl;
};

static void pair_free(struct pair *p)
{
	free(p->key);
	free(p->cert);
}

static struct at_cert_record rec_of(struct pair *p, char **names, size_t n)
{
	struct at_cert_record r;
	memset(&r, 0, sizeof r);
	r.key_pem = p->key;
	r.key_len = p->kl;
	r.chain_pem = p->cert;
	r.chain_len = p->cl;
	r.names = names;
	r.nnames = n;
	return r;
}

static void test_round_trip(void)
{
	struct at_store *s = NULL;
	struct pair a, b, c;
	char *names[] = { "example.com", "www.example.com" };
	char *other[] = { "example.org" };
	char *wild[] = { "*.example.net" };
	struct at_cert_record got;
	char **keys = NULL;
	size_t nk = 0;

	REQUIRE(harness_self_signed_pem(&a.key, &a.kl, &a.cert, &a.cl, "DNS:example.com,DNS:www.example.com") == 0);
	REQUIRE(harness_self_signed_pem(&b.key, &b.kl, &b.cert, &b.cl, "DNS:example.com,DNS:www.example.com") == 0);
	REQUIRE(harness_self_signed_pem(&c.key, &c.kl, &c.cert, &c.cl, "DNS:*.example.net") == 0);
	REQUIRE(at_store_open_file(&s, rootp) == 0);

	CHECK_INT(at_cert_record_load(s, "ca", "example.com", &got), ==, AT_E_NOTFOUND);
	struct at_cert_record r = rec_of(&a, names, 2);
	r.ari_cert_id = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
	r.renew_after = 1700000000;
	CHECK_OK(at_cert_record_save(s, "ca", &r));
	memset(&got, 0, sizeof got);
	CHECK_OK(at_cert_record_load(s, "ca", "example.com", &got));
	CHECK(got.key_len == a.kl && memcmp(got.key_pem, a.key, a.kl) == 0);
	CHECK(got.chain_len == a.cl && memcmp(got.chain_pem, a.cert, a.cl) == 0);
	CHECK_INT(got.nnames, ==, 2);
	if (got.nnames == 2)
		CHECK_STR(got.names[1], "www.example.com");
	CHECK_STR(got.ari_cert_id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
	CHECK_INT(got.renew_after, ==, 1700000000);
	CHECK_INT(got.info.nnames, ==, 2);
	CHECK(got.info.not_after > time(NULL));
	at_cert_record_clear(&got);
	at_cert_record_clear(&got);
	/* the staged copy is gone */
	CHECK_OK(at_store_list(s, "staging/ca/", &keys, &nk));
	for (size_t i = 0; i < nk; i++) {
		char **sub = NULL;
		size_t ns = 0;
		CHECK_OK(at_store_list(s, keys[i], &sub, &ns));
		CHECK_INT(ns, ==, 0);
		at_store_list_free(sub, ns);
	}
	at_store_list_free(keys, nk);

	/* a mismatched key is refused and the live record stays */
	struct pair mix = { b.key, a.cert, b.kl, a.cl };
	r = rec_of(&mix, names, 2);
	CHECK_INT(at_cert_record_save(s, "ca", &r), ==, AT_E_KEY_MISMATCH);
	/* names not covered */
	char *more[] = { "example.com", "api.example.com" };
	r = rec_of(&b, more, 2);
	CHECK_INT(at_cert_record_save(s, "ca", &r), ==, AT_E_NAMES);
	/* not normalised, garbage chain */
	char *upper[] = { "Example.com" };
	r = rec_of(&b, upper, 1);
	CHECK_INT(at_cert_record_save(s, "ca", &r), ==, AT_E_BADNAME);
	struct pair junk = { b.key, "junk", b.kl, 4 };
	r = rec_of(&junk, names, 2);
	CHECK_INT(at_cert_record_save(s, "ca", &r), ==, AT_E_PARSE);
	CHECK_OK(at_cert_record_load(s, "ca", "example.com", &got));
	CHECK(got.key_len == a.kl && memcmp(got.key_pem, a.key, a.kl) == 0);
	CHECK(got.chain_len == a.cl && memcmp(got.chain_pem, a.cert, a.cl) == 0);
	at_cert_record_clear(&got);

	/* a good replacement goes live */
	r = rec_of(&b, names, 2);
	CHECK_OK(at_cert_record_save(s, "ca", &r));
	CHECK_OK(at_cert_record_load(s, "ca", "example.com", &got));
	CHECK(got.key_len == b.kl && memcmp(got.key_pem, b.key, b.kl) == 0);
	CHECK(got.ari_cert_id == NULL && got.renew_after == 0);
	at_cert_record_clear(&got);
	CHECK_INT(at_cert_record_load(s, "ca", "www.example.com", &got), ==, AT_E_NOTFOUND);
	CHECK_INT(at_cert_record_load(s, "ca", "../example.com", &got), ==, AT_E_BADNAME);
	r = rec_of(&b, other, 1);
	CHECK_INT(at_cert_record_save(s, "ca", &r), ==, AT_E_NAMES);
	CHECK_INT(at_cert_record_save(s, "../ca", &r), ==, AT_E_BADNAME);

	/* a wildcard record */
	r = rec_of(&c, wild, 1);
	CHECK_OK(at_cert_record_save(s, "ca", &r));
	CHECK_OK(at_cert_record_load(s, "ca", "*.example.net", &got));
	at_cert_record_clear(&got);

	/* a record tampered with on disk is refused, not half used */
	char *v = NULL;
	size_t vl = 0;
	CHECK_OK(at_store_load(s, "certificates/ca/example.com/record", &v, &vl));
	CHECK_OK(at_store_put(s, "certificates/ca/example.com/record", v, vl - 10));
	CHECK_INT(at_cert_record_load(s, "ca", "example.com", &got), ==, AT_E_PARSE);
	free(v);
	CHECK_OK(at_store_put(s, "certificates/ca/example.com/record", "{\"v\":1}\n", 8));
	CHECK_INT(at_cert_record_load(s, "ca", "example.com", &got), ==, AT_E_PARSE);
	/* someone else's record moved into this name's place */
	CHECK_OK(at_store_load(s, "certificates/ca/_.example.net/record", &v, &vl));
	CHECK_OK(at_store_put(s, "certificates/ca/example.com/record", v, vl));
	CHECK_INT(at_cert_record_load(s, "ca", "example.com", &got), ==, AT_E_PARSE);
	free(v);

	at_store_close(s);
	pair_free(&a);
	pair_free(&b);
	pair_free(&c);
}

int main(void)
{
	snprintf(rootp, sizeof rootp, "/tmp/at-certs-XXXXXX");
	if (mkdtemp(rootp) == NULL)
		return 1;
	RUN(test_ca_component);
	RUN(test_round_trip);
	int rc = TEST_EXIT();
	if (rc == 0) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", rootp);
		if (system(cmd) != 0)
			return 1;
	}
	return rc;
}
